"""Cross-cutting basics shared by the edge agent and the cloud: logging, time, translations.

Nothing here imports a service package, so both `edge` and `cloud` may depend on it.
"""

from importlib.metadata import version

# One version for every process, read from the installed distribution (pyproject.toml is its only source).
VERSION = version("tryggheim")
