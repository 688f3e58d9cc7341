"""todoke.carriers.smpp."""
