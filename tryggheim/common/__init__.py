"""Cross-cutting basics shared by the edge agent and the cloud: logging, time, translations.

Nothing here imports a service package, so both `edge` and `cloud` may depend on it.
"""
