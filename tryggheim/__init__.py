"""Tryggheim: remote patient monitoring and welfare technology for Norwegian municipalities.

This package is the composition root (the CLI, the demo, benchmarks) plus `tryggheim.common`, the few
cross-cutting basics every process shares. Importing it must stay cheap: it imports nothing.
"""

__version__ = "0.1.0"
