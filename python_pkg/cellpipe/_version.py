"""The package version, on its own so that a face can read it without importing the others."""

__version__ = "0.1.0"
