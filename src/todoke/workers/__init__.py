"""todoke.workers."""
