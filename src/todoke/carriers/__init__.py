"""todoke.carriers."""
