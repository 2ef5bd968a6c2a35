"""Benchmarks shipped with the package; each prints one JSON line (see docs/benchmarks.md)."""
