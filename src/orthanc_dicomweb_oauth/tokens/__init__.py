"""Getting and keeping tokens: one token request (the grant, through Authlib on httpx2),
the provider's answer read, and the keeper that caches, refreshes and retries."""
