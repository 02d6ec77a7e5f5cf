"""Google's tokens: a credentials file read and checked without google-auth, the source that
asks google-auth, google-auth's transport on the package's HTTP client, and the metadata
server's credentials that keep its access scopes. Only ``credentials_file`` and
``access_scopes`` are light; the others import google-auth."""
