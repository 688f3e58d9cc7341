"""todoke.api."""
