"""The one authorisation layer. Every route declares exactly one policy as a dependency:

- `Public`              no principal needed (operations endpoints, sign-in, enrolment by code);
- `gateway_only()`      a gateway's own credential (ingest, status, config);
- `staff_only(*roles)`  any authenticated staff member with one of the roles (empty: any role);
- `patient_access(a)`   one patient's data: scope check and an audit record, for the route's `patient_id`;
- `alert_access(a)`     the same, for the patient of the route's `alert_id`;
- `patient_search(a)`   many patients' data: the caller's scope as a filter, one audit record per search;
- `patient_emergency(a)` break-the-glass: asking for emergency access to one patient outside one's care teams;
- `own_record(a)`       a citizen's own record (ID-porten at the highest level), audited as patient access;
- `relative_record(a)`  a relative reading the view of a patient who invited them (`cloud.access.relatives`),
                        the link read on every request, audited as patient access;
- `relative_self(a)`    a signed-in relative about themselves (whom they may follow), audited;
- `patient_query(a)`    a search that may name one patient in its query (FHIR `patient=`): `patient_access` for
                        it, else `patient_search`;
- `resource_patient(a, find)` the patient a resource named by the path's `id` belongs to (FHIR reads by id).

Patient data needs a strong sign-in: a staff member signed in through HelseID below security level 4, or a
citizen below `idporten-loa-high`, is refused it (403) and the refusal is audited; so is a refused credential
on a patient route (a forged, expired or replayed token), with the patient it aimed at.

A patient's blocks (`cloud/access/blocks.py`) and a staff member's emergency grants (`cloud/access/emergency.py`)
are part of every patient policy: a blocked person is refused whatever their role unless their grant overrides
the block, a team-scoped role reaches a patient outside its teams while it holds an unexpired grant, and lists
leave out the patients who have blocked the caller.

`route_check.mark(router)` and `route_check.enforce(app)` run when the application is built and refuse to start
it if a route declares no policy or more than one, so a new route cannot opt out silently. Patient policies mark
their routes in the OpenAPI document (`x-patient-data`), which is how the audit test finds every patient route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from fastapi import Depends, HTTPException, Request
from psycopg.rows import dict_row

from cloud.access import audit, blocks, emergency, relatives
from cloud.access.caller import principal_of, refusal
from cloud.access.principal import Principal
from cloud.access.reach import reach_of
from cloud.access.roles import PATIENT_SCOPE, ROLE_NAMES, Role
from cloud.gateways import credentials as gateway_credentials
from cloud.gateways.credentials import GatewayPrincipal
from cloud.requests import Conn, correlation_id
from common.i18n import N_

REASON_HEADER = "X-Access-Reason"


# Refusals a person may read, worded in the reader's language (Accept-Language, bokmål first).
SIGN_IN = N_("Sign in first.")
ROLE_REFUSED = N_("Your role ({role}) may not do this.")
NO_PATIENT_DATA = N_("Your role ({role}) has no access to patient data.")
OWN_RECORD_ONLY = N_("A citizen sees their own record only (/api/v1/citizen/record).")
NOT_A_RELATIVE = N_("You have not been invited to see this person's page.")
CONSENT_WITHDRAWN = N_("This person has withdrawn your access to their page.")
WEAK_SIGN_IN = N_("Patient data needs a sign-in at the highest security level (BankID, Buypass or Commfides).")


def _mark(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__access_policy__ = kind  # type: ignore[attr-defined]
        return function

    return mark


async def _audited_principal(request: Request, conn: Conn, action: str, patient_id: UUID | None) -> Principal | None:
    """The caller of a route over patient data; a credential refused on the way (a forged, expired or replayed
    token, an unknown session) leaves a denied audit record naming the patient it aimed at."""
    try:
        return await principal_of(request, conn)
    except HTTPException as refused:
        record = _record(
            request, None, patient_id=patient_id, action=action, resource=_resource(request), outcome="denied"
        )
        record = replace(record, reason=f"credential refused ({refused.status_code}): {refused.detail}"[:500])
        if patient_id is not None:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT municipality_id FROM patients WHERE id = %s", (patient_id,))
            if row := await cur.fetchone():
                record = replace(record, municipality_id=row["municipality_id"])
        await audit.write(conn, record)
        raise


def _record(request: Request, principal: Principal | None, **fields: Any) -> audit.AuditRecord:
    return audit.AuditRecord(
        municipality_id=fields.pop("municipality_id", principal.municipality_id if principal else None),
        principal_kind=principal.kind if principal else "anonymous",
        principal_id=str(principal.id) if principal else None,
        role=str(principal.role) if principal else None,
        team_ids=sorted(principal.team_ids) if principal else (),
        correlation_id=correlation_id(request),
        reason=request.headers.get(REASON_HEADER, "")[:500],
        **fields,
    )


def actor(request: Request, principal: Principal) -> audit.Actor:
    """The signed-in caller as the actor of the changes a handler makes (each audited by the service)."""
    return audit.Actor(
        principal_kind=principal.kind,
        principal_id=str(principal.id),
        role=str(principal.role),
        team_ids=sorted(principal.team_ids),
        correlation_id=correlation_id(request),
        reason=request.headers.get(REASON_HEADER, "")[:500],
        municipality_id=principal.municipality_id,
    )


def _resource(request: Request) -> str:
    return f"{request.method} {request.url.path}"


@_mark("public")
async def _public() -> None:
    return None


Public = Depends(_public)


def staff_only(*roles: Role, audited: str | None = None) -> Any:
    """Any signed-in staff member with one of `roles` (any role when none are given). With `audited`,
    allowed calls are recorded too (for data that may hold health values, such as quarantined readings)."""

    @_mark("staff")
    async def policy(request: Request, conn: Conn) -> Principal:
        principal = await principal_of(request, conn)
        if principal is None:
            raise refusal(request, 401, SIGN_IN)
        allowed = principal.kind == "staff" and (not roles or principal.role in roles)
        if audited or not allowed:
            outcome: audit.AccessOutcome = "allowed" if allowed else "denied"
            record = _record(
                request, principal, action=audited or "access", resource=_resource(request), outcome=outcome
            )
            await audit.write(conn, record)
        if not allowed:
            raise refusal(request, 403, ROLE_REFUSED, role=ROLE_NAMES[principal.role])
        return principal

    return Depends(policy)


def gateway_only() -> Any:
    """A gateway's own credential (`Authorization: Bearer <credential>`); when the path names a gateway,
    it must be the caller itself."""

    @_mark("gateway")
    async def policy(request: Request) -> GatewayPrincipal:
        header = request.headers.get("authorization", "")
        gateway = None
        if header.lower().startswith("bearer "):
            # A gateway-pool connection for the look-up alone (none while the check is cached): ingest reads
            # its body after this, and a body that never comes must not hold a connection.
            gateway = await gateway_credentials.authenticate_cached(request.app.state.gateway_pool, header[7:].strip())
        if gateway is None:
            raise HTTPException(
                401, "Unknown, rotated-out or revoked gateway credential.", {"WWW-Authenticate": "Bearer"}
            )
        named = request.path_params.get("gateway_id")
        if named is not None and str(named) != str(gateway.id):
            raise HTTPException(403, "A gateway may only act for itself.")
        return gateway

    return Depends(policy)


@dataclass(frozen=True)
class PatientGrant:
    """What a patient route receives: who asks, for which patient, the audit record's id, and the emergency
    grant the access goes through (None: the caller's own scope)."""

    principal: Principal
    patient_id: UUID
    audit_id: int
    emergency_grant: UUID | None = None


async def _patient_grant(
    request: Request, conn: Conn, patient_id: UUID | None, action: str, missing: str, roles: tuple[Role, ...] = (),
    *, through_grants: bool = True, asking: bool = False,
) -> PatientGrant:  # fmt: skip
    """Scope check and audit record for one patient (None: the named resource does not exist); with `roles`,
    only those roles may act (a write that not every reader may make). An emergency grant opens the patient to
    a caller outside their teams unless `through_grants` is off (acting on the patient's behalf needs a care
    relation); `asking` is the break-the-glass request (`patient_emergency`)."""
    principal = await _audited_principal(request, conn, action, patient_id)
    home: UUID | None = None  # the patient's municipality
    team: UUID | None = None
    if patient_id is not None:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT municipality_id, care_team_id FROM patients WHERE id = %s", (patient_id,))
        if row := await cur.fetchone():
            home, team = row["municipality_id"], row["care_team_id"]
    reach = await reach_of(conn, principal, patient_id, home, team, through_grants=through_grants, asking=asking)
    in_scope = reach.in_scope
    allowed = in_scope and (not roles or (principal is not None and principal.role in roles))
    record = _record(
        request,
        principal,
        municipality_id=principal.municipality_id if principal else home,
        patient_id=patient_id,
        action=action,
        resource=_resource(request),
        outcome="allowed" if allowed else "denied",
    )
    if reach.grant is not None:
        record = replace(record, reason=reach.grant.audit_reason(record.reason))
    records = [record]
    if principal is not None and home is not None and home != principal.municipality_id:
        # The probed municipality's auditors see who tried to reach their patient; the caller's answer below
        # stays the one for a patient that does not exist.
        records.append(replace(record, municipality_id=home))
    audit_id = (await audit.write_all(conn, records))[0]
    if principal is None:
        raise refusal(request, 401, SIGN_IN)
    if home is None or patient_id is None or home != principal.municipality_id:
        raise refusal(request, 404, missing)  # existence in another municipality must not leak
    if not in_scope and PATIENT_SCOPE[principal.role] == "none":
        raise refusal(request, 403, NO_PATIENT_DATA, role=ROLE_NAMES[principal.role])
    if not in_scope and principal.kind != "staff":
        raise refusal(request, 403, OWN_RECORD_ONLY)
    if not in_scope and not principal.patient_data:
        raise refusal(request, 403, WEAK_SIGN_IN)
    if not in_scope and reach.blocked:
        raise refusal(request, 403, emergency.BLOCKED)
    if not in_scope:
        raise refusal(request, 403, N_("This patient is not in your care teams."))
    if not allowed:
        raise refusal(request, 403, ROLE_REFUSED, role=ROLE_NAMES[principal.role])
    return PatientGrant(principal, patient_id, audit_id, reach.grant.id if reach.grant else None)


def patient_access(action: str, *roles: Role, through_grants: bool = True) -> Any:
    """Access to the patient named by the path parameter `patient_id`, audited before the handler runs; with
    `roles`, only staff with one of them (and the patient in scope) may act. `through_grants=False`: an
    emergency grant does not open the route (acting on the patient's behalf: their blocks, their access log)."""

    @_mark("patient")
    async def policy(request: Request, conn: Conn, patient_id: UUID) -> PatientGrant:
        return await _patient_grant(
            request, conn, patient_id, action, N_("No such patient."), roles, through_grants=through_grants
        )

    policy.__access_roles__ = [str(role) for role in roles]  # type: ignore[attr-defined]
    return Depends(policy)


def patient_emergency(action: str) -> Any:
    """Break-the-glass for the patient named by `patient_id`: any staff member of the patient's municipality
    whose role reaches patient data may ask (audited before the handler runs, like every patient route); the
    handler's service (`cloud.access.emergency.open_grant`) decides whether a grant is opened."""

    @_mark("patient")
    async def policy(request: Request, conn: Conn, patient_id: UUID) -> PatientGrant:
        return await _patient_grant(request, conn, patient_id, action, N_("No such patient."), asking=True)

    return Depends(policy)


def alert_access(action: str, *roles: Role) -> Any:
    """Access to the patient whose alert the path parameter `alert_id` names: the same scope check and audit
    record as `patient_access`, for that patient; with `roles`, only staff with one of them may act."""

    @_mark("patient")
    async def policy(request: Request, conn: Conn, alert_id: int) -> PatientGrant:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT patient_id FROM alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
        patient = row["patient_id"] if row else None
        return await _patient_grant(request, conn, patient, action, N_("No such alert."), roles)

    policy.__access_roles__ = [str(role) for role in roles]  # type: ignore[attr-defined]
    return Depends(policy)


def own_record(action: str) -> Any:
    """A citizen's own record (ID-porten, bound by national id): allowed only at `idporten-loa-high`, audited
    like every access to patient data, with the citizen as the principal and the patient."""

    @_mark("own_record")
    async def policy(request: Request, conn: Conn) -> PatientGrant:
        principal = await _audited_principal(request, conn, action, None)
        if principal is None:
            raise refusal(request, 401, SIGN_IN)
        own = principal.kind == "patient"
        allowed = own and principal.patient_data
        record = _record(
            request,
            principal,
            patient_id=principal.id if own else None,
            action=action,
            resource=_resource(request),
            outcome="allowed" if allowed else "denied",
        )
        audit_id = (await audit.write_all(conn, [record]))[0]
        if principal.kind == "relative":
            raise refusal(request, 403, N_("This is the patient's own page; you see theirs under /relative."))
        if not own:
            raise refusal(request, 403, N_("This is the citizens' own view; staff open patients by their id."))
        if not allowed:
            raise refusal(request, 403, WEAK_SIGN_IN)
        return PatientGrant(principal, principal.id, audit_id)

    return Depends(policy)


def relative_record(action: str) -> Any:
    """A relative reading the view of the patient named by `patient_id`, who invited them and has not revoked
    it: the link is read on every request (revoking is immediate), and every request, allowed or refused, is
    audited in the patient's municipality with the relative as the principal, so the patient sees it in "who
    has looked"."""

    @_mark("relative_record")
    async def policy(request: Request, conn: Conn, patient_id: UUID) -> PatientGrant:
        principal = await _audited_principal(request, conn, action, patient_id)
        state = None
        if principal is not None and principal.kind == "relative":
            state = await relatives.link_state(conn, principal.id, patient_id)
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT municipality_id FROM patients WHERE id = %s", (patient_id,))
        home = row["municipality_id"] if (row := await cur.fetchone()) else None
        allowed = state == "live" and principal is not None and principal.patient_data
        record = _record(
            request, principal, municipality_id=home or (principal.municipality_id if principal else None),
            patient_id=patient_id, action=action, resource=_resource(request),
            outcome="allowed" if allowed else "denied",
        )  # fmt: skip
        audit_id = (await audit.write_all(conn, [record]))[0]
        if principal is None:
            raise refusal(request, 401, SIGN_IN)
        if state == "revoked":
            raise refusal(request, 403, CONSENT_WITHDRAWN)
        if state is None:
            raise refusal(request, 403, NOT_A_RELATIVE)
        if not allowed:
            raise refusal(request, 403, WEAK_SIGN_IN)
        return PatientGrant(principal, patient_id, audit_id)

    return Depends(policy)


def relative_self(action: str) -> Any:
    """A signed-in relative about themselves (which patients' views they may read), audited."""

    @_mark("relative_self")
    async def policy(request: Request, conn: Conn) -> Principal:
        principal = await _audited_principal(request, conn, action, None)
        if principal is None:
            raise refusal(request, 401, SIGN_IN)
        allowed = principal.kind == "relative"
        outcome: audit.AccessOutcome = "allowed" if allowed else "denied"
        await audit.write(
            conn, _record(request, principal, action=action, resource=_resource(request), outcome=outcome)
        )
        if not allowed:
            raise refusal(request, 403, NOT_A_RELATIVE)
        return principal

    return Depends(policy)


@dataclass(frozen=True)
class PatientScopeFilter:
    """The caller's reach for list and search routes: always one municipality, maybe a set of teams."""

    principal: Principal
    municipality_id: UUID
    team_ids: frozenset[UUID] | None  # None: the whole municipality
    hidden: frozenset[UUID] = frozenset()  # patients who have blocked the caller: every list leaves them out


def patient_search(action: str, *roles: Role) -> Any:
    """Routes over many patients: one audit record per search; the handler must apply the filter. With
    `roles`, only staff with one of them may search (a screen made for one role, such as the response centre's)."""

    @_mark("patient_search")
    async def policy(request: Request, conn: Conn) -> PatientScopeFilter:
        principal = await _audited_principal(request, conn, action, None)
        if principal is None:
            raise refusal(request, 401, SIGN_IN)
        scope = PATIENT_SCOPE[principal.role]
        allowed = (
            scope in {"team", "municipality"} and principal.patient_data and (not roles or principal.role in roles)
        )
        outcome: audit.AccessOutcome = "allowed" if allowed else "denied"
        await audit.write(
            conn, _record(request, principal, action=action, resource=str(request.url.path), outcome=outcome)
        )
        if scope == "none":
            raise refusal(request, 403, NO_PATIENT_DATA, role=ROLE_NAMES[principal.role])
        if principal.kind != "staff":
            raise refusal(request, 403, OWN_RECORD_ONLY)
        if not principal.patient_data:
            raise refusal(request, 403, WEAK_SIGN_IN)
        if not allowed:
            raise refusal(request, 403, ROLE_REFUSED, role=ROLE_NAMES[principal.role])
        teams = principal.team_ids if scope == "team" else None
        hidden = (
            await blocks.blocked_patients(conn, principal.id, principal.team_ids)
            if principal.kind == "staff"
            else frozenset()
        )
        return PatientScopeFilter(principal, principal.municipality_id, teams, hidden)

    policy.__access_roles__ = [str(role) for role in roles]  # type: ignore[attr-defined]
    return Depends(policy)


def patient_query(action: str, param: str = "patient") -> Any:
    """Searches whose query may name one patient (FHIR's `patient=`, a reference `Patient/<id>` or the id): with
    it, exactly `patient_access` for that patient (404 and a record in both chains for another municipality's);
    without it, `patient_search` over the caller's scope. A value that is no patient reference is a 400."""
    search = patient_search(action).dependency

    @_mark("patient_search")
    async def policy(request: Request, conn: Conn) -> PatientGrant | PatientScopeFilter:
        raw = request.query_params.get(param)
        if raw is None:
            return await search(request, conn)  # type: ignore[no-any-return]
        try:
            patient_id = UUID(raw.removeprefix("Patient/"))
        except ValueError:
            raise refusal(request, 400, N_("The patient parameter is not a reference to a patient.")) from None
        return await _patient_grant(request, conn, patient_id, action, N_("No such patient."))

    return Depends(policy)


def resource_patient(action: str, find: Callable[[Any, str], Awaitable[UUID | None]], missing: str) -> Any:
    """Access to the patient a resource named by the route's `id` path parameter belongs to, found by `find(conn,
    id)` (the route's own read): the same scope check and audit record as `patient_access`, for that patient; a
    resource that does not exist answers 404 like another municipality's."""

    @_mark("patient")
    async def policy(request: Request, conn: Conn) -> PatientGrant:
        patient = await find(conn, str(request.path_params.get("id", "")))
        return await _patient_grant(request, conn, patient, action, missing)

    return Depends(policy)
