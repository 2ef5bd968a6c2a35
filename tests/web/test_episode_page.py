"""A worsening episode on the pages (no browser): the worklist shows the episode and not the rules' alerts that
are its evidence, the episode's page lists each sign with its words, severity, time and state and a link to
its own page, and a sign's page leads back to its episode."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import drain
from tests.support.episodes import MEMBERS, WORSENING, heart_failure_patient, store
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, sign_in, visible_text, wait_for_alerts

# The members' titles as the nurse reads them (the protocol's titles through the bokmål catalogue).
TITLES = {
    "hf.weight_gain_3d": "Vekten har økt mer enn 2 kg på 3 dager",
    "hf.heart_rate": "Puls utenfor grensene",
    "hf.spo2": "Lav oksygenmetning",
}


def test_the_episode_page_lists_its_evidence_and_the_worklist_only_the_episode(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    patient = heart_failure_patient(url, tenants.a, "Edel Episode")
    for metric, values in WORSENING.values():
        store(url, patient, metric, values)
    drain(url)  # the application's own worker may take some of the rows first; both evaluate alike
    opened = wait_for_alerts(url, patient, {"episode.clinical", *MEMBERS})
    episode = opened["episode.clinical"]
    sign_in(app, tenants.a.usernames[Role.NURSE])
    page = app.get(f"/alerts/{episode}", headers={**HTML, "Accept-Language": "nb"})
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Forverring hos Edel Episode: 3 tegn" in text
    evidence = text[text.index("Tegn på forverringen") :]
    for rule in MEMBERS:
        assert f'href="/alerts/{opened[rule]}"' in page.text, rule
        assert TITLES[rule] in evidence, rule
    assert evidence.count("Gul") == 3 and evidence.count("Ikke løst ennå") == 3
    assert "Edel Episode" in evidence.split(TITLES["hf.spo2"], 1)[1]  # each sign's own sentence names the patient
    assert "Når du løser forverringen, løses også de åpne tegnene." in text

    member = app.get(f"/alerts/{opened['hf.spo2']}", headers={**HTML, "Accept-Language": "nb"})
    assert member.status_code == 200 and f'href="/alerts/{episode}">Åpne forverringen</a>' in member.text
    worklist = app.get("/", headers={**HTML, "Accept-Language": "nb"}).text
    shown = set(map(int, re.findall(r'data-alert-id="(\d+)"', worklist)))
    assert episode in shown and not shown & {opened[rule] for rule in MEMBERS}
