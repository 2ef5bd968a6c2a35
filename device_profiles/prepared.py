"""The packaged catalogues (`metrics.yaml`, `devices/*.yaml`) as one JSON document prepared at build time.

The YAML files are the source people edit; `prepared.json` holds the same documents, parsed, so the processes
that load the catalogues (the gateway agent above all) need no YAML parser: reading JSON uses the standard
library and keeps PyYAML and its parse out of a small gateway's memory. The loaders validate the documents
exactly as before. tests/device_profiles/test_prepared.py fails when the JSON differs from the YAML;
`tryggheim profiles prepare` writes it again.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from device_profiles.errors import CatalogueError

PREPARED = "prepared.json"


def yaml_document(name: str, text: str) -> object:
    """One YAML file's document; raises `CatalogueError` naming the file when it is not YAML."""
    import yaml  # only the tools, the tests and `prepare` read YAML (module docstring)

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{name}: not YAML: {exc}") from exc


def prepared_text() -> str:
    """What `prepared.json` must hold: the metric catalogue and every device family file (by file name, sorted),
    read from the packaged YAML."""
    package = files("device_profiles")
    folder = package.joinpath("devices")
    devices = {
        item.name: yaml_document(item.name, item.read_text(encoding="utf-8"))
        for item in sorted(folder.iterdir(), key=lambda item: item.name)
        if item.name.endswith(".yaml")
    }
    metrics = yaml_document("metrics.yaml", package.joinpath("metrics.yaml").read_text(encoding="utf-8"))
    return json.dumps({"metrics": metrics, "devices": devices}, ensure_ascii=False, indent=1) + "\n"


@cache
def prepared() -> dict[str, Any]:
    """The prepared documents: `metrics` (metrics.yaml) and `devices` (file name -> family document)."""
    document: dict[str, Any] = json.loads(files("device_profiles").joinpath(PREPARED).read_text(encoding="utf-8"))
    return document
