"""fhirclient, the SMART Health IT Python client, reads patients and observations with paging from a really
running `tryggheim cloud serve` process, with a staff member's bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

from cloud.access.roles import Role
from cloud.interop.fhir import codes
from tests.interop.fhir.seed import BP_READINGS, FNR, Record
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.xdist_group("fhir")  # one worker builds the package's database once
SETTINGS = {"TRYGGHEIM_AUTH_MODE": "local", "TRYGGHEIM_COOKIE_SECURE": "false", "TRYGGHEIM_EVALUATION": "false",
            "TRYGGHEIM_ESCALATION": "false"}  # fmt: skip


@pytest.fixture(scope="module")
def server(fhir_db: TestDatabase, tenants: Tenants, record: Record) -> Iterator[FHIRServer]:
    """fhirclient's server object on a running service, signed in as A's nurse."""
    with cloud_serve(fhir_db.runtime_url, **SETTINGS) as base:
        found = FHIRServer(None, base_uri=f"{base}/fhir/")
        found.session.headers.update(tenants.a.auth(Role.NURSE))
        yield found


def test_fhirclient_reads_the_capability_statement_and_a_patient(server: FHIRServer, record: Record) -> None:
    server.get_capability()
    assert server.capabilityStatement.fhirVersion == "4.0.1"
    patient = Patient.read(str(record.patient_id), server)
    assert patient.identifier[0].system == codes.FNR_OID and patient.identifier[0].value == FNR
    found = list(Patient.where(struct={"identifier": f"{codes.FNR_OID}|{FNR}"}).perform_resources_iter(server))
    assert [p.id for p in found] == [str(record.patient_id)]


def test_fhirclient_pages_through_observations(server: FHIRServer, record: Record) -> None:
    search = Observation.where(struct={"patient": str(record.patient_id), "code": "85354-9", "_count": "2"})
    pages = list(search.perform_iter(server))
    assert len(pages) == (BP_READINGS + 1) // 2 and pages[0].total == BP_READINGS
    panels = [entry.resource for page in pages for entry in page.entry or []]
    assert [p.id for p in panels] == [str(i) for i in record.systolic]
    assert all(p.valueQuantity is None and len(p.component) == 2 for p in panels)
    assert {c.valueQuantity.code for p in panels for c in p.component} == {"mm[Hg]"}
    everything = list(
        Observation.where(struct={"patient": str(record.patient_id), "_count": "5"}).perform_resources_iter(server)
    )
    assert len(everything) == BP_READINGS + len(record.visit) + len(record.answers)
