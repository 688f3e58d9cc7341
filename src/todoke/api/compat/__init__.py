"""todoke.api.compat."""
