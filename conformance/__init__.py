"""h1check conformance suite."""

__version__ = "0.1.0"
