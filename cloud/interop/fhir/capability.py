"""The CapabilityStatement of the `/fhir/` read API: exactly what is served (read and search-type of five resource
types, the search parameters of `search.SUPPORTED`, JSON only). Pure."""

from __future__ import annotations

from typing import Any, Final

import common
from cloud.interop.fhir.search import SUPPORTED

_TYPES: Final = {"identifier": "token", "_id": "token", "patient": "reference", "code": "token", "date": "date"}
_DOCS: Final = {
    "patient": "Patient/<id> or the id; without it, every patient the caller may see",
    "code": "system|code or code, comma-separated (LOINC, SNOMED CT, MDC, or a Tryggheim metric key)",
    "date": "prefixes eq, ge, gt, le, lt; YYYY, YYYY-MM, YYYY-MM-DD (Europe/Oslo) or a dateTime with an offset",
    "identifier": "system|value: the FNR or D-number OID, or urn:tryggheim:patient",
    "_id": "resource ids, comma-separated",
}


def capability_statement(base: str, date: str) -> dict[str, Any]:
    """The CapabilityStatement for a server at `base`."""
    resources = [
        {
            "type": resource,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": _TYPES[name], "documentation": _DOCS[name]} for name in params]
            + [
                {
                    "name": "_count",
                    "type": "number",
                    "documentation": "page size, default 50, at most 200 (capped, said so)",
                },
                {
                    "name": "_cursor",
                    "type": "string",
                    "documentation": "the next page's position, as the next link gives it",
                },
            ],
        }
        for resource, params in SUPPORTED.items()
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "Tryggheim", "version": common.VERSION},
        "implementation": {"description": "Tryggheim FHIR R4 read API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{"mode": "server", "resource": resources}],
    }
