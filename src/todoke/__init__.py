"""todoke (届け): a self-hostable business messaging platform for Japan."""

__version__ = "0.1.0"
