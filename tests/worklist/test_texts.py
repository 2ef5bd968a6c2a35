"""Alert texts with the names from the registry: a real kit's gateway is named by its home's address, its
alarm button by the device catalogue's model name, its patient by name; staff are named, never shown as ids,
and only within their own municipality."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from alerts.wording import AlertText, Reader
from cloud.access.directory import staff_names
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.worklist.texts import describe_rows
from common.i18n import translations
from tests.support.db import drain
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def _sweep(url: str, kit: Kit) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO pending_evaluations (patient_id) VALUES (%s)", (kit.patient_id,))
    drain(url)


def _texts(url: str, kit: Kit, language: str) -> dict[str, AlertText]:
    async def run() -> dict[str, AlertText]:
        async with await connect(url, autocommit=False) as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT patient_id, rule, severity, explanation FROM alerts WHERE patient_id = %s "
                "AND resolved_at IS NULL ORDER BY id",
                (kit.patient_id,),
            )
            rows = await cur.fetchall()
            texts = await describe_rows(conn, rows, Reader(language, translations(language)))
            return {row["rule"]: text for row, text in zip(rows, texts, strict=True)}

    return asyncio.run(run())


def test_a_kits_alerts_name_the_home_the_device_and_the_person(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants
) -> None:
    url = worklist_db.runtime_url
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Kari Tekst")
    kit = enrol_kit(client, url, tenants.a.municipality_id, patient)
    _sweep(url, kit)  # the gateway never sent a heartbeat
    down = _texts(url, kit, "nb")["live.gateway_heartbeat"]
    assert down == AlertText(
        "Ingen kontakt med gatewayen", "Gatewayen i Testveien 1 har ikke gitt lyd fra seg på mer enn 30 minutter."
    )
    report = {"software_version": "t", "uptime_s": 5, "gateway_clock": datetime.now(UTC).isoformat(), "outbox_depth": 0}
    assert client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=report, headers=kit.auth).status_code == 200
    _sweep(url, kit)  # the gateway is up; the alarm button has never been heard from
    texts = _texts(url, kit, "en")
    assert texts["live.alarm_button_silent"].sentence == (
        "No signal from Shelly BLU Button1 at Kari Tekst's home for more than 24 hours."
    )
    for text in texts.values():
        assert not UUID_TEXT.search(f"{text.title} {text.sentence}")


def test_staff_are_named_within_their_own_municipality_only(worklist_db: TestDatabase, tenants: Tenants) -> None:
    async def run() -> dict[object, str]:
        async with await connect(worklist_db.runtime_url, autocommit=False) as conn:
            a, b = tenants.a.staff, tenants.b.staff
            ids = [a[Role.NURSE], a[Role.RESPONSE_CENTRE], b[Role.NURSE], None]
            return await staff_names(conn, tenants.a.municipality_id, ids)

    assert asyncio.run(run()) == {
        tenants.a.staff[Role.NURSE]: "nurse a",
        tenants.a.staff[Role.RESPONSE_CENTRE]: "response_centre a",
    }
