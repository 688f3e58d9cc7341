"""todoke.api.v1."""
