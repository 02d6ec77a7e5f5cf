"""The OAuth2 client-credentials grant (RFC 6749 §4.4): the request, the provider's answer,
and the token endpoint found from the issuer's metadata."""
