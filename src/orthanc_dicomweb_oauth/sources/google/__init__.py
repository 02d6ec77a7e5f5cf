"""Google's tokens: a credentials file read and checked without google-auth, the source that
asks google-auth, google-auth's transport on the package's HTTP client, and the metadata
server's credentials that keep its access scopes. ``file_types`` and ``access_scopes`` are
light, ``credentials_file`` loads pydantic models, the others import google-auth."""
