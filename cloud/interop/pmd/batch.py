"""The PMD batch Bundle and the reading of PMD's answer (pure: no clock, file or database).

The VkpBundleObservation profile (HL7 Norway) asks for a `batch` Bundle in which every entry has a unique,
mandatory `fullUrl`, which PMD echoes in its answer so each entry's outcome maps back to what was sent; a
request is POST (or PUT). We send a conditional create (`ifNoneExist` on the Observation's identifier), so an
entry sent twice (a process died after PMD stored it) is stored once. The `fullUrl` is derived from the
observation's id, so a retry carries the same one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NAMESPACE = uuid.UUID("0c6f9a7e-9d0e-4f55-8a38-5d2f0d1b6e42")
ID_SYSTEM = "urn:ietf:rfc:3986"


@dataclass(frozen=True)
class Entry:
    """One measurement to share: the id of its (first) observation row and its Observation resource."""

    observation_id: int
    full_url: str
    resource: dict[str, Any]


@dataclass(frozen=True)
class EntryResult:
    """PMD's answer for one entry: accepted, or refused with the reason."""

    full_url: str
    ok: bool
    detail: str


def full_url(observation_id: int) -> str:
    """The stable `fullUrl` of an observation's entry."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'tryggheim:pmd:{observation_id}')}"


def entry(observation_id: int, resource: dict[str, Any], subject: dict[str, Any]) -> Entry:
    """An entry for one Observation made for the API: the patient by identifier (PMD matches people by national
    id, not by our ids), no references PMD cannot resolve, and an identifier to create it on."""
    url = full_url(observation_id)
    out = {k: v for k, v in resource.items() if k not in ("id", "subject", "device", "hasMember", "derivedFrom")}
    out["subject"] = subject
    device = resource.get("device")
    if isinstance(device, dict) and device.get("display"):
        out["device"] = {"display": device["display"]}
    identifiers = [i for i in out.get("identifier", []) if isinstance(i, dict) and i.get("system") and i.get("value")]
    if not identifiers:
        identifiers = [{"system": ID_SYSTEM, "value": url}]
    out["identifier"] = identifiers
    return Entry(observation_id, url, out)


def batch_bundle(entries: Sequence[Entry], *, municipality_number: str | None = None) -> dict[str, Any]:
    """The batch Bundle of `entries`, tagged with the municipality's number as PMD's examples do."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "fullUrl": e.full_url,
                "resource": e.resource,
                "request": {
                    "method": "POST",
                    "url": "Observation",
                    "ifNoneExist": f"identifier={e.resource['identifier'][0]['system']}|"
                    f"{e.resource['identifier'][0]['value']}",
                },
            }
            for e in entries
        ],
    }
    if municipality_number:
        bundle["meta"] = {
            "tag": [{"system": "https://register.geonorge.no/kommunenummer", "code": municipality_number}]
        }
    return bundle


def _reason(response: dict[str, Any]) -> str:
    outcome = response.get("outcome")
    if isinstance(outcome, dict):
        said = [
            str(issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code"))
            for issue in outcome.get("issue") or []
            if isinstance(issue, dict)
        ]
        if said:
            return "; ".join(said)
    return f"PMD answered {response.get('status', 'without a status')}"


def read_answer(sent: Sequence[Entry], answer: Any) -> list[EntryResult]:
    """Each sent entry's outcome, matched by `fullUrl`. An entry the answer does not mention, or an answer that
    is not a batch-response, counts as not shared (it is retried), never as shared."""
    by_url: dict[str, dict[str, Any]] = {}
    if isinstance(answer, dict) and answer.get("resourceType") == "Bundle" and answer.get("type") == "batch-response":
        for item in answer.get("entry") or []:
            if isinstance(item, dict) and isinstance(item.get("fullUrl"), str):
                response = item.get("response")
                by_url[item["fullUrl"]] = response if isinstance(response, dict) else {}
    results = []
    for e in sent:
        found = by_url.get(e.full_url)
        if found is None:
            results.append(EntryResult(e.full_url, False, "PMD's answer does not mention this entry"))
            continue
        status = str(found.get("status", "")).split(" ", 1)[0]
        ok = status.startswith("2")
        results.append(EntryResult(e.full_url, ok, "shared" if ok else _reason(found)))
    return results
