"""todoke.carriers.simulator."""
