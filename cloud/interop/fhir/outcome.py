"""OperationOutcome: how the `/fhir/` API answers every error (and says that a `_count` was capped)."""

from __future__ import annotations

from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]
# FHIR issue-type codes used here (http://hl7.org/fhir/R4/valueset-issue-type.html).
IssueCode = Literal[
    "invalid", "structure", "required", "value", "not-supported", "not-found", "login", "forbidden",
    "security", "processing", "exception", "transient", "too-costly", "informational", "throttled",
]  # fmt: skip
STATUS_CODES: dict[int, IssueCode] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "processing",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def issue(diagnostics: str, code: IssueCode = "invalid", severity: Severity = "error") -> dict[str, Any]:
    """One issue of an OperationOutcome."""
    return {"severity": severity, "code": code, "diagnostics": diagnostics}


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    """An OperationOutcome with the given issues (at least one)."""
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def for_status(status: int, diagnostics: str) -> dict[str, Any]:
    """The OperationOutcome of an HTTP error status (a 4xx is an error, a 5xx a fatal one)."""
    severity: Severity = "fatal" if status >= 500 else "error"
    code: IssueCode = STATUS_CODES.get(status, "exception" if status >= 500 else "processing")
    return operation_outcome(issue(diagnostics, code, severity))
