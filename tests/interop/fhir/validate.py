"""Validation of what the API returns with two independent model sets: fhir.resources' R4B models (pydantic) and
fhirclient's R4 models (strict). The official HL7 validator needs Java and the profile packages, which this
machine cannot fetch; these two catch structure, cardinality and type errors."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.fhirelementfactory import FHIRElementFactory


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource` after both model sets accepted it (each raises on an invalid one); Bundles with their entries."""
    kind = resource["resourceType"]
    get_fhir_model_class(kind).model_validate(resource)
    instance = FHIRElementFactory.instantiate(kind, resource)
    assert instance.as_json()["resourceType"] == kind
    for entry in resource.get("entry", []) if kind == "Bundle" else []:
        valid(entry["resource"])
    return resource
