"""Where a server's tokens come from, one interface (``base``): the OAuth2 client-credentials
grant at a token endpoint (``client_credentials/``, through Authlib on httpx2), Google's
credentials (``google/``) and an Azure managed identity, each through its own library;
and what they share: the HTTP client, the token as the package holds it, its lifetime
and the rule for failures worth another try soon."""
