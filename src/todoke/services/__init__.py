"""todoke.services."""
