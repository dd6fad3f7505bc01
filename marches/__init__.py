"""marches: read, validate, package and publish French public procurement data (DECP)."""

__version__ = "0.1.0"
