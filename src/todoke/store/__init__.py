"""todoke.store."""
