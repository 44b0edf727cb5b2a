"""Benchmarks of issue 6 (not part of the service): `make bench`."""
