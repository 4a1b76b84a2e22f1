"""Benchmarks: the operator against bare helm on the in-memory API server (``make bench``)."""
