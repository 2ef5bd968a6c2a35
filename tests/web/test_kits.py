"""The installer's pages in this process: a code made on the home's page (text and QR code of the enrolment
address), looked up and confirmed on the enrolment page, refused to a gateway until then (409, not counted as a
wrong code); the fleet and the gateway's page; a proposed device confirmed and assigned. And the bad input, each
with a clear page and nothing written: a code used twice or expired, a rejected code, another municipality's
code or home (audited), an overlapping assignment, a supervision sensor without consent."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import segno
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.web.kits import QR_ERROR
from tests.support.db import named_rows, rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenant, Tenants, insert_patient
from tests.web.helpers import HTML, csrf_of, sign_in, visible_text

DOOR = "aqara-door-window-mccgq11lm"


def _home(app: TestClient, url: str, tenant: Tenant, resident: str) -> tuple[UUID, UUID]:
    """A new home of the tenant with one resident (through the registry API as the administrator)."""
    admin = tenant.auth(Role.MUNICIPALITY_ADMIN)
    home = UUID(
        app.post("/api/v1/homes", json={"address": f"Kitveien {uuid.uuid4().hex[:4]}"}, headers=admin).json()["id"]
    )
    patient = insert_patient(url, tenant.municipality_id, tenant.teams["Nord"], resident)
    assert app.patch(f"/api/v1/patients/{patient}", json={"home_id": str(home)}, headers=admin).status_code == 204
    return home, patient


def _code_on_page(app: TestClient, home: UUID) -> tuple[str, str, str]:
    """Create a code on the home's page as the signed-in person: (code, enrolment URL, the page's QR SVG)."""
    page = app.get(f"/kits/homes/{home}", headers=HTML)
    assert page.status_code == 200, page.text
    made = app.post(f"/kits/homes/{home}/codes", data={"csrf_token": csrf_of(page.text)}, headers=HTML)
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store", made.text
    code = re.search(r'id="enrolment-code">([^<]+)<', made.text)
    url = re.search(r'data-qr-url="([^"]+)"', made.text)
    svg = re.search(r"<svg role=\"img\".*?</svg>", made.text, re.S)
    assert code and url and svg
    return code.group(1), url.group(1), svg.group(0)


def _path(svg: str) -> str:
    found = re.search(r' d="([^"]+)"', svg)
    assert found
    return found.group(1)


def _enrolment_of(app: TestClient, code: str) -> tuple[int, str]:
    """Look the code up on the enrolment page (as the QR code's script does): its id and page."""
    form = app.get("/enrol/code", headers=HTML)
    found = app.post("/enrol/code", data={"csrf_token": csrf_of(form.text), "code": code}, headers=HTML,
                     follow_redirects=False)  # fmt: skip
    assert found.status_code == 303, found.text
    enrolment = int(found.headers["location"].rsplit("/", 1)[1])
    return enrolment, app.get(f"/enrol/{enrolment}", headers=HTML).text


def _decide(app: TestClient, enrolment: int, action: str) -> Any:
    page = app.get(f"/enrol/{enrolment}", headers=HTML).text
    return app.post(f"/enrol/{enrolment}/{action}", data={"csrf_token": csrf_of(page)}, headers=HTML)


def _failures(url: str) -> int:
    """Wrong codes counted for this process's test client (the address the gateway's requests come from)."""
    return int(rows(url, "SELECT count(*) FROM enrolment_failures WHERE client = 'testclient'")[0][0])


def test_the_code_made_on_the_page_waits_for_the_installer_then_the_kit_comes_online_and_a_device_is_assigned(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    home, patient = _home(app, url, tenants.a, "Kari Kitsen")
    sign_in(app, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
    code, link, svg = _code_on_page(app, home)
    assert link.endswith(f"/enrol#code={code}")
    drawn = segno.make(link, error=QR_ERROR).svg_inline(scale=5, border=4, light="#fff", lineclass=None)
    assert _path(svg) == _path(drawn)  # the QR code encodes exactly the address shown
    failures = _failures(url)
    waiting = app.post("/api/v1/gateways/enrol", json={"code": code})
    assert waiting.status_code == 409 and "confirmation" in waiting.json()["detail"]
    assert _failures(url) == failures  # waiting is not a wrong code
    sign_in(app, tenants.a.usernames[Role.INSTALLER])
    assert app.get("/enrol", headers=HTML).status_code == 200  # the QR code's page needs no sign-in
    enrolment, page = _enrolment_of(app, code)
    assert "Kari Kitsen" in visible_text(page) and "confirm-home" in page
    assert _decide(app, enrolment, "confirm").status_code == 200
    state = named_rows(url, "SELECT confirmed_by, confirmed_at FROM enrolment_codes WHERE id = %s", enrolment)[0]
    assert state["confirmed_by"] == tenants.a.staff[Role.INSTALLER] and state["confirmed_at"] is not None
    enrolled = app.post("/api/v1/gateways/enrol", json={"code": code})
    assert enrolled.status_code == 201, enrolled.text
    gateway, auth = enrolled.json()["gateway_id"], {"Authorization": f"Bearer {enrolled.json()['credential']}"}
    progress = app.get(f"/enrol/{enrolment}/progress", headers=HTML).text
    assert 'class="pending" data-step="heartbeat"' in progress and "Ikke tilkoblet ennå" in visible_text(progress)
    beat = {
        "software_version": "test",
        "uptime_s": 5,
        "gateway_clock": datetime.now(UTC).isoformat(),
        "outbox_depth": 0,
    }
    assert app.post(f"/api/v1/gateways/{gateway}/status", json=beat, headers=auth).status_code == 200
    address = f"AA:{uuid.uuid4().hex[:2]}:00:00:00:01"
    proposal = {"address": address, "profile_id": "and-uc-352ble"}
    assert app.post(f"/api/v1/gateways/{gateway}/devices", json=proposal, headers=auth).status_code == 202
    progress = app.get(f"/enrol/{enrolment}/progress", headers=HTML).text
    assert 'class="done" data-step="online"' in progress and f"/fleet/gateways/{gateway}" in progress
    assert f"{address} (and-uc-352ble)" in progress  # its proposed devices
    fleet = app.get("/fleet", headers=HTML).text
    assert f'data-gateway-id="{gateway}"' in fleet
    page = app.get(f"/fleet/gateways/{gateway}", headers=HTML).text
    assert f'data-proposal="{address}"' in page and "Siste livstegn" in page and "test" in visible_text(page)
    proposal_id = rows(url, "SELECT id FROM device_proposals WHERE gateway_id = %s", gateway)[0][0]
    confirmed = app.post(f"/fleet/gateways/{gateway}/proposals/{proposal_id}",
                         data={"csrf_token": csrf_of(page), "target": f"patient:{patient}"}, headers=HTML)  # fmt: skip
    assert confirmed.status_code == 200 and f'data-device="{address}"' in confirmed.text
    assigned = rows(url, "SELECT a.patient_id FROM device_assignments a JOIN devices d ON d.id = a.device_id "
                    "WHERE d.address = %s AND a.valid @> now()", address)  # fmt: skip
    assert assigned == [(patient,)]
    again = app.post("/api/v1/gateways/enrol", json={"code": code})  # a QR code used twice
    assert again.status_code == 400 and "already used" in again.json()["detail"]
    used = app.get(f"/enrol/{enrolment}", headers=HTML).text
    assert "confirm-home" not in used


def test_an_expired_or_rejected_code_is_refused_to_the_gateway_and_the_page_says_so(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    home, _ = _home(app, url, tenants.a, "Per Avvist")
    sign_in(app, tenants.a.usernames[Role.INSTALLER])
    rejected_code, _, _ = _code_on_page(app, home)
    enrolment, _ = _enrolment_of(app, rejected_code)
    assert _decide(app, enrolment, "reject").status_code == 200
    assert (
        app.post("/api/v1/gateways/enrol", json={"code": rejected_code})
        .json()["detail"]
        .startswith("the enrolment code is rejected")
    )
    late = _decide(app, enrolment, "confirm")  # a rejected code cannot be confirmed afterwards
    assert late.status_code == 409 and "confirm-home" not in late.text
    assert rows(url, "SELECT confirmed_at FROM enrolment_codes WHERE id = %s", enrolment) == [(None,)]
    expired_code, _, _ = _code_on_page(app, home)
    expired, _ = _enrolment_of(app, expired_code)
    _decide(app, expired, "confirm")
    rows(url, "UPDATE enrolment_codes SET expires_at = now() - interval '1 minute' WHERE id = %s RETURNING id",
         expired)  # fmt: skip
    answer = app.post("/api/v1/gateways/enrol", json={"code": expired_code})
    assert answer.status_code == 400 and "expired" in answer.json()["detail"]
    assert "confirm-home" not in app.get(f"/enrol/{expired}", headers=HTML).text


def test_another_municipalitys_code_or_home_is_a_clear_page_with_nothing_written_and_audited(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    home, _ = _home(app, url, tenants.a, "Ola Annen")
    sign_in(app, tenants.a.usernames[Role.INSTALLER])
    code, _, _ = _code_on_page(app, home)
    sign_in(app, tenants.b.usernames[Role.INSTALLER])
    form = app.get("/enrol/code", headers=HTML)
    foreign = app.post("/enrol/code", data={"csrf_token": csrf_of(form.text), "code": code}, headers=HTML)
    assert foreign.status_code == 404 and "Ola Annen" not in foreign.text and "kit-notice" in foreign.text
    enrolment = rows(url, "SELECT id FROM enrolment_codes WHERE home_id = %s", home)[0][0]
    refused = app.post(f"/enrol/{enrolment}/confirm", data={"csrf_token": csrf_of(form.text)}, headers=HTML)
    assert refused.status_code == 404
    assert rows(url, "SELECT confirmed_at FROM enrolment_codes WHERE id = %s", enrolment) == [(None,)]
    audited = named_rows(url, "SELECT outcome, municipality_id FROM audit_log WHERE action = 'enrolment.foreign' "
                         "AND resource = %s", f"enrolment/{enrolment}")  # fmt: skip
    assert len(audited) == 2 and {r["outcome"] for r in audited} == {"denied"}
    assert {r["municipality_id"] for r in audited} == {tenants.b.municipality_id}
    codes = int(rows(url, "SELECT count(*) FROM enrolment_codes WHERE home_id = %s", home)[0][0])
    page = app.get("/kits", headers=HTML).text
    made = app.post(f"/kits/homes/{home}/codes", data={"csrf_token": csrf_of(page)}, headers=HTML)
    assert made.status_code == 404 and rows(url, "SELECT count(*) FROM enrolment_codes WHERE home_id = %s", home) == [
        (codes,)
    ]


def _kit_with_proposal(
    app: TestClient, url: str, tenant: Tenant, name: str, profile: str
) -> tuple[str, UUID, int, str]:
    """An enrolled kit (through a confirmed code) whose gateway proposed one device of `profile`: the gateway,
    the resident, the proposal and the gateway page."""
    home, patient = _home(app, url, tenant, name)
    sign_in(app, tenant.usernames[Role.INSTALLER])
    code, _, _ = _code_on_page(app, home)
    enrolment, _ = _enrolment_of(app, code)
    _decide(app, enrolment, "confirm")
    body = app.post("/api/v1/gateways/enrol", json={"code": code}).json()
    auth = {"Authorization": f"Bearer {body['credential']}"}
    address = f"dev-{uuid.uuid4().hex[:8]}"
    app.post(f"/api/v1/gateways/{body['gateway_id']}/devices", json={"address": address, "profile_id": profile},
             headers=auth)  # fmt: skip
    proposal = rows(url, "SELECT id FROM device_proposals WHERE address = %s", address)[0][0]
    return body["gateway_id"], patient, proposal, address


def test_a_supervision_sensor_without_consent_is_refused_with_a_link_and_nothing_written(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    gateway, patient, proposal, address = _kit_with_proposal(app, url, tenants.a, "Siri Samtykke", DOOR)
    page = app.get(f"/fleet/gateways/{gateway}", headers=HTML).text
    assert "fleet-consent" in page
    refused = app.post(f"/fleet/gateways/{gateway}/proposals/{proposal}",
                       data={"csrf_token": csrf_of(page), "target": f"patient:{patient}"}, headers=HTML)  # fmt: skip
    assert refused.status_code == 409 and f'href="/registry/patients/{patient}"' in refused.text
    assert rows(url, "SELECT count(*) FROM devices WHERE address = %s", address) == [(0,)]
    assert rows(url, "SELECT confirmed_at FROM device_proposals WHERE id = %s", proposal) == [(None,)]
    # it may join the kit unassigned (so the consent can be recorded for it), and is still refused activation
    joined = app.post(f"/fleet/gateways/{gateway}/proposals/{proposal}",
                      data={"csrf_token": csrf_of(page), "target": ""}, headers=HTML)  # fmt: skip
    assert joined.status_code == 200 and f'data-device="{address}"' in joined.text
    device = rows(url, "SELECT id FROM devices WHERE address = %s", address)[0][0]
    form = {"csrf_token": csrf_of(joined.text), "target": f"patient:{patient}"}
    activate = app.post(f"/fleet/gateways/{gateway}/devices/{device}/assign", data=form, headers=HTML)
    assert activate.status_code == 409 and "/registry/patients/" in activate.text
    assert rows(url, "SELECT count(*) FROM device_assignments WHERE device_id = %s", device) == [(0,)]


def test_an_overlapping_assignment_is_refused_with_the_reason_and_nothing_written(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    gateway, patient, proposal, address = _kit_with_proposal(app, url, tenants.a, "Otto Overlapp", "and-uc-352ble")
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    device = app.post("/api/v1/devices", json={"profile_id": "and-uc-352ble", "address": address}, headers=admin)
    device_id = device.json()["id"]
    other = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Annen Beboer")
    assert app.post(f"/api/v1/devices/{device_id}/assignments", json={"patient_id": str(other)},
                    headers=admin).status_code == 201  # fmt: skip
    page = app.get(f"/fleet/gateways/{gateway}", headers=HTML).text
    refused = app.post(f"/fleet/gateways/{gateway}/proposals/{proposal}",
                       data={"csrf_token": csrf_of(page), "target": f"patient:{patient}"}, headers=HTML)  # fmt: skip
    assert refused.status_code == 409 and "overlaps" in refused.text and "kit-refusal" in refused.text
    assert rows(url, "SELECT count(*) FROM device_registrations WHERE device_id = %s", device_id) == [(0,)]
    assert rows(url, "SELECT confirmed_at FROM device_proposals WHERE id = %s", proposal) == [(None,)]


def test_the_installer_lands_on_the_fleet_with_the_kit_pages_in_the_menu(app: TestClient, tenants: Tenants) -> None:
    sign_in(app, tenants.a.usernames[Role.INSTALLER])
    landed = app.get("/start", headers=HTML)
    assert str(landed.url).endswith("/fleet") and 'href="/kits"' in landed.text
    filtered = app.get("/fleet?offline=true&low_battery=true", headers=HTML)
    assert filtered.status_code == 200 and 'name="offline" value="true" checked' in filtered.text
    sign_in(app, tenants.a.usernames[Role.NURSE])
    nurse = app.get("/fleet", headers=HTML)
    assert nurse.status_code == 200 and 'href="/kits"' not in nurse.text
    assert app.get("/kits", headers=HTML).status_code == 403


def test_codes_cannot_be_guessed_through_the_page(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> None:
    url, admin = web_db.runtime_url, tenants.b.staff[Role.MUNICIPALITY_ADMIN]
    client = f"staff:{admin}"
    sign_in(app, tenants.b.usernames[Role.MUNICIPALITY_ADMIN])
    try:
        form = csrf_of(app.get("/enrol/code", headers=HTML).text)
        wrong = app.post("/enrol/code", data={"csrf_token": form, "code": "AAAA-BBBB-CCCC"}, headers=HTML)
        assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
        assert rows(url, "SELECT count(*) FROM enrolment_failures WHERE client = %s", client) == [(1,)]
        rows(url, "INSERT INTO enrolment_failures (client) SELECT %s FROM generate_series(1, 9) RETURNING id", client)
        throttled = app.post("/enrol/code", data={"csrf_token": form, "code": "AAAA-BBBB-CCCD"}, headers=HTML)
        assert throttled.status_code == 429 and "kit-notice" in throttled.text
    finally:
        rows(url, "DELETE FROM enrolment_failures WHERE client = %s RETURNING id", client)
