"""Tryggheim: remote patient monitoring and welfare technology for Norwegian municipalities.

This package is the composition root at the top of the layers: the CLI (`cli.py`), its command shells
(`commands/`), the demo (`demo/`) and the benchmarks (`bench/`). Nothing imports it. Importing it must stay
cheap: it imports nothing.
"""
