"""Google's tokens: a credentials file read and checked without google-auth, the source that
asks google-auth, and google-auth's transport on the package's HTTP client. Only
``credentials_file`` is light; the others import google-auth."""
