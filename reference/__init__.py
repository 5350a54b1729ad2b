"""h1check reference server: one sans-I/O HTTP/1.1 core driven by pluggable concurrency backends."""

__version__ = "0.1.0"
