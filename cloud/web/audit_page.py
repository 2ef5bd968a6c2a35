"""The audit log for auditors (`/audit`): the municipality's records newest first, filtered by person, patient,
action and days, and on request the verification of the hash chain (`cloud.access.audit.verify`, as
`tryggheim admin audit verify` recomputes it; the signed checkpoints stay with that command).

Only auditors reach it (`AUDIT_READERS`, as `GET /api/v1/audit`), and each reading is itself recorded
(`audit.read`), as the API's is. Filters that cannot be read (a malformed patient id, a date) are refused next
to their field and nothing is searched.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from cloud.access import anchor, anchor_runner, audit, directory
from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import AUDIT_READERS
from cloud.config import CloudSettings
from cloud.requests import Conn
from cloud.web.forms import Checked
from cloud.web.navigation import PAGES_TAG
from cloud.web.templating import ROLE_NAMES, gettext_of, render
from common.i18n import N_
from common.timefmt import OSLO

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Auditor = Annotated[Principal, staff_only(*AUDIT_READERS)]
PAGE_SIZE = 200
FILTERS = ("person", "patient", "action", "since", "until")


def _day(checked: Checked, name: str, shift: int) -> datetime | None:
    typed = checked.values.get(name, "").strip()
    if not typed:
        return None
    try:
        return datetime.combine(date.fromisoformat(typed) + timedelta(days=shift), time(0), OSLO)
    except ValueError:
        checked.refuse(name, N_("Choose a date."))
        return None


def read_filter(values: dict[str, str]) -> tuple[audit.AuditFilter, Checked]:
    """The filters as typed, checked: a patient id, a person's id, an action, and Oslo days from and through."""
    checked = Checked({name: values.get(name, "").strip() for name in FILTERS})
    patient: UUID | None = None
    if checked.values["patient"]:
        try:
            patient = UUID(checked.values["patient"])
        except ValueError:
            checked.refuse("patient", N_("A patient id looks like 0b6f…-…: copy it from the patient's page."))
    since, until = _day(checked, "since", 0), _day(checked, "until", 1)
    if since and until and until <= since:
        checked.refuse("until", N_("The end must be after the start."))
    where = audit.AuditFilter(patient_id=patient, person=checked.values["person"] or None,
                              action=checked.values["action"] or None, since=since, until=until)  # fmt: skip
    return where, checked


def _signed(settings: CloudSettings, municipality_id: UUID) -> anchor.Loaded | None:
    """The municipality's signed checkpoints from the configured file, checked with the service's own key
    (None when the service keeps none: no file or no key). Lines that do not verify are kept as findings."""
    path = settings.audit_checkpoint_file
    try:
        key = anchor_runner.signing_key(settings)
    except anchor_runner.AnchorConfigError:
        key = None
    if path is None or key is None or not path.exists():
        return None
    loaded = anchor.read_checkpoints([path], [key.public_key()])
    loaded.checkpoints = [cp for cp in loaded.checkpoints if cp.chain == municipality_id]
    return loaded


async def verification(conn: Conn, settings: CloudSettings, municipality_id: UUID) -> dict[str, Any]:
    """The municipality's chain recomputed (records in it, rows where it breaks) and, where the service keeps
    signed checkpoints, what the log no longer matches of them, as `tryggheim admin audit verify` reports."""
    signed = await run_in_threadpool(_signed, settings, municipality_id)
    heads = {(cp.chain, cp.head_id) for cp in signed.checkpoints} if signed else set()
    found = await audit.verify(conn, heads)
    end = found.ends.get(municipality_id)
    breaks = [b for b in found.breaks if b.municipality_id == municipality_id]
    findings = (signed.bad + anchor.compare(signed.checkpoints, found.heads, found.ends)) if signed else []
    return {"records": end.position if end else 0, "breaks": breaks, "findings": findings,
            "checkpoints": len(signed.checkpoints) if signed is not None else None,
            "intact": not breaks and not findings}  # fmt: skip


@router.get("/audit")
async def audit_page(request: Request, conn: Conn, auditor: Auditor) -> Response:
    """The audit log with its filters; `?verify=1` also recomputes the hash chain."""
    where, checked = read_filter(dict(request.query_params))
    entries: list[audit.AuditEntry] = []
    if not checked.errors:
        record = actor(request, auditor).record(
            "audit.read", str(request.url.path), municipality_id=auditor.municipality_id, patient_id=where.patient_id
        )
        await audit.write(conn, record)
        entries = await audit.newest_entries(
            conn, auditor.municipality_id, patient_id=None, before_id=None, limit=PAGE_SIZE, where=where
        )
    verified = None
    if request.query_params.get("verify") == "1":
        verified = await verification(conn, request.app.state.settings, auditor.municipality_id)
    staff = await directory.list_staff(conn, auditor.municipality_id)
    _ = gettext_of(request)
    context = {
        "entries": entries, "typed": checked.values, "errors": {k: _(v) for k, v in checked.errors.items()},
        "form": "filter", "people": {str(s.id): s.display_name for s in staff}, "staff": staff,
        "actions": await audit.actions(conn, auditor.municipality_id), "verified": verified,
        "page_size": PAGE_SIZE, "role_names": ROLE_NAMES,
    }  # fmt: skip
    return render(request, "audit.html", context, status=422 if checked.errors else 200)
