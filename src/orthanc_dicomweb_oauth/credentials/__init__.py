"""What a client proves itself with at the token endpoint: one interface (``base``), one
module per kind."""
