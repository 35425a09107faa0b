"""The package version, in a module of its own so that core modules can record it in
results' metadata without importing the package itself (which would be an import cycle)."""

__version__ = "0.1.0"
