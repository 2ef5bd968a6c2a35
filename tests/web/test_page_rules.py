"""Rules every page keeps, checked on every page the web layer renders (in this process): bokmål and English
with no text missing from the bokmål catalogue, the Content-Security-Policy with no inline script, style or
event handler to need loosening it, static files cached by digest while pages are never stored, and at most
100 KB of compressed JavaScript and CSS per page."""

from __future__ import annotations

import copy
import gettext
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.middleware import CONTENT_SECURITY_POLICY
from cloud.web.templating import Pages
from common import i18n
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, alarm_patient, alerting_patient, csrf_of, sign_in

PAGE_WEIGHT_LIMIT = 100 * 1024
WEB = Path(__file__).resolve().parents[2] / "cloud" / "web"


class Misses(gettext.NullTranslations):
    """The catalogue's last resort: records every text the catalogue before it did not have."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()

    def gettext(self, message: str) -> str:
        self.texts.add(message)
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        self.texts.add(msgid1)
        return msgid1 if n == 1 else msgid2


def recording(misses: Misses) -> Pages:
    """Pages whose bokmål catalogue reports each text it lacks to `misses`."""

    def catalogue(language: str) -> gettext.NullTranslations:
        found = copy.copy(i18n.translations(language))
        if language == "nb":
            found.add_fallback(misses)
        return found

    return Pages(catalogue)


class Inline(HTMLParser):
    """What a strict CSP would block: inline scripts, style elements and attributes, event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"{tag} {name}=")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}=javascript:")
        if tag == "script" and named.get("src"):
            self.assets.append(str(named["src"]))
        if tag == "link" and named.get("rel") == "stylesheet":
            self.assets.append(str(named["href"]))


def _pages(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> Iterator[tuple[str, str, str]]:
    """(name, language, html) of every kind of page, signed out and signed in, in both languages."""
    found = alarm_patient(app, web_db.runtime_url, tenants.a, "Page Rules")
    other = alerting_patient(app, web_db.runtime_url, tenants.a, "Page Rules Sor", team="Sør")
    operator = tenants.a.auth(Role.RESPONSE_CENTRE)  # one alarm on the response centre's screen is on its way
    app.post(f"/api/v1/alerts/{other.button}/acknowledge", headers=operator)
    app.post(f"/api/v1/alerts/{other.button}/outcomes", json={"outcome": "visit_dispatched"}, headers=operator)
    for language in ("nb", "en"):
        headers = {**HTML, "Accept-Language": language}
        app.cookies.clear()
        yield "sign-in", language, app.get("/signin?next=/", headers=headers).text
        failed = app.post("/signin", data={"username": "nobody", "password": "x"}, headers=headers)
        yield "sign-in failed", language, failed.text
        sign_in(app, tenants.a.usernames[Role.NURSE])
        yield "worklist", language, app.get("/", headers=headers).text
        yield "worklist, bad filter", language, app.get("/?state=nonsense", headers=headers).text
        yield "alert", language, app.get(f"/alerts/{found.news2}", headers=headers).text
        yield "alarm alert", language, app.get(f"/alerts/{found.button}?done=acknowledged", headers=headers).text
        yield "patient", language, app.get(f"/patients/{found.patient_id}", headers=headers).text
        refused = app.post(f"/alerts/{found.news2}/snooze", data={"until": "2000-01-01T00:00"}, headers=headers)
        yield "refused form (CSRF)", language, refused.text
        yield "another team's alert", language, app.get(f"/alerts/{other.news2}", headers=headers).text
        yield "no such page", language, app.get("/no/such/page", headers=headers).text
        yield "handover", language, app.get("/handover", headers=headers).text
        yield "handover, bad start", language, app.get("/handover?since=2999-01-01T00:00", headers=headers).text
        sign_in(app, tenants.a.usernames[Role.RESPONSE_CENTRE])
        yield "response centre", language, app.get("/response-centre", headers=headers).text
        data = {"csrf_token": csrf_of(app.get("/response-centre", headers=headers).text), "outcome": "maybe"}
        refused = app.post(f"/response-centre/{other.button}/outcome", data=data, headers=headers)
        yield "response centre, refused outcome", language, refused.text
        sign_in(app, tenants.a.usernames[Role.INSTALLER])
        yield "start (installer)", language, app.get("/", headers=headers).text
        yield from _kit_pages(app, tenants, language, headers, found.kit.gateway_id)


def _kit_pages(
    app: TestClient, tenants: Tenants, language: str, headers: dict[str, str], gateway: object
) -> Iterator[tuple[str, str, str]]:
    """The installer's pages (signed in as the installer): homes, a home with a new code, enrolment, fleet."""
    home = app.post("/api/v1/homes", json={"address": "Regelveien 1"}, headers=tenants.a.auth(Role.INSTALLER)).json()
    yield "homes and kits", language, app.get("/kits", headers=headers).text
    page = app.get(f"/kits/homes/{home['id']}", headers=headers).text
    yield "home", language, page
    made = app.post(f"/kits/homes/{home['id']}/codes", data={"csrf_token": csrf_of(page)}, headers=headers).text
    yield "enrolment code", language, made
    yield "enrolment from the QR code", language, app.get("/enrol", headers=headers).text
    yield "enrolment code form", language, app.get("/enrol/code", headers=headers).text
    enrolment = re.search(r'href="/enrol/([0-9]+)"', made)
    assert enrolment
    yield "enrolment", language, app.get(f"/enrol/{enrolment.group(1)}", headers=headers).text
    yield "fleet", language, app.get("/fleet?offline=true", headers=headers).text
    yield "gateway", language, app.get(f"/fleet/gateways/{gateway}", headers=headers).text
    yield "no such enrolment", language, app.get("/enrol/999999999", headers=headers).text


@pytest.fixture(scope="module")
def rendered(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> tuple[list[tuple[str, str, str]], Misses]:
    """Every page rendered once per language through a catalogue that records what bokmål lacks."""
    misses = Misses()
    app.app.state.pages = recording(misses)  # type: ignore[attr-defined]
    try:
        pages = list(_pages(app, web_db, tenants))
    finally:
        app.app.state.pages = None  # type: ignore[attr-defined]
    return pages, misses


def test_every_page_renders_in_both_languages_with_no_text_missing_from_bokmal(
    rendered: tuple[list[tuple[str, str, str]], Misses],
) -> None:
    pages, misses = rendered
    assert misses.texts == set()
    for name, language, html in pages:
        assert f'<html lang="{language}">' in html, name
    words = {"nb": ("Logg inn", "Arbeidsliste", "Hvorfor dette varselet", "Vaktoverlevering", "Ta alarmen"),
             "en": ("Sign in", "Worklist", "Why this alert", "Shift handover", "Take the alarm")}  # fmt: skip
    for language, (sign_in_word, worklist_word, alert_word, handover_word, take_word) in words.items():
        by_name = {name: html for name, lang, html in pages if lang == language}
        assert sign_in_word in by_name["sign-in"] and worklist_word in by_name["worklist"]
        assert alert_word in by_name["alert"] and handover_word in by_name["handover"]
        centre = by_name["response centre"]
        assert take_word in centre and 'name="outcome" value="on_site"' in centre


def test_the_recorder_notices_a_text_the_catalogue_lacks() -> None:
    misses = Misses()
    template = recording(misses).environment("nb").from_string('{{ _("Sign in") }} {{ _("Not in a catalogue") }}')
    assert template.render() == "Logg inn Not in a catalogue"
    assert misses.texts == {"Not in a catalogue"}


def test_every_text_of_the_web_layer_is_translated_to_bokmal() -> None:
    """The same for texts no page above happened to render (another branch of a template)."""
    options = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trim_blocks": "true"}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(WEB),
            [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
            {"templates/**.html": options},
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
        )
    }
    assert len(extracted) > 150  # the extraction sees the templates and the modules
    with (Path(i18n.LOCALE_DIR) / "nb" / "LC_MESSAGES" / "tryggheim.po").open("rb") as handle:
        catalogue = read_po(handle)
    assert sorted(m for m in extracted if m not in catalogue or not catalogue[m].string) == []


def test_every_page_has_the_csp_and_nothing_inline(
    app: TestClient, rendered: tuple[list[tuple[str, str, str]], Misses]
) -> None:
    pages, _misses = rendered
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    for name, language, html in pages:
        parser = Inline()
        parser.feed(html)
        assert parser.found == [], (name, language)
    for path in ("/signin", "/", "/no/such/page"):
        assert app.get(path, headers=HTML).headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_static_files_are_kept_by_digest_and_pages_never(
    app: TestClient, rendered: tuple[list[tuple[str, str, str]], Misses]
) -> None:
    pages, _misses = rendered
    parser = Inline()
    parser.feed(next(html for name, _l, html in pages if name == "alert"))
    assert len(parser.assets) == 4  # the stylesheet, uPlot's stylesheet and script, alert.js
    for asset in parser.assets:
        answer = app.get(asset, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, asset
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-encoding"] == "gzip"
        stale = re.sub(r"^/static/[0-9a-f]+/", "/static/0000000000000000/", asset)
        assert app.get(stale).status_code == 404
    assert app.get("/signin").headers["cache-control"] == "no-store"
    assert app.get("/api/v1/worklist").headers["cache-control"] == "no-store"


def test_no_page_loads_more_than_100_kb_of_compressed_javascript_and_css(
    app: TestClient, rendered: tuple[list[tuple[str, str, str]], Misses]
) -> None:
    pages, _misses = rendered
    weights = {}
    for name, language, html in pages:
        parser = Inline()
        parser.feed(html)
        sizes = [int(app.get(a, headers={"Accept-Encoding": "gzip"}).headers["content-length"]) for a in parser.assets]
        weights[(name, language)] = sum(sizes)
        assert all(size > 0 for size in sizes)
    print({name: round(weight / 1024, 1) for (name, language), weight in weights.items() if language == "nb"})
    assert max(weights.values()) <= PAGE_WEIGHT_LIMIT, weights
    assert weights[("worklist", "nb")] > 10 * 1024  # htmx and our own files are counted
