"""Rendering pages: Jinja2 with autoescaping, gettext in the request's language and the Babel filters.

There is one template environment per language, each with that language's catalogue installed (Jinja2's
i18n extension, new-style gettext, so `{{ _("...") }}` is escaped and takes named placeholders). The catalogue
comes from `Pages.catalogue`, which is `common.i18n.translations` in the service; a test may give the
application another (`app.state.pages`), for example one that records every text missing from a catalogue.
The language is the person's choice (cookie), else the browser's Accept-Language, else bokmål.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from alerts.wording import Reader
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.web import formats
from cloud.web.assets import assets
from cloud.web.navigation import menu
from common.i18n import LANGUAGE_COOKIE, LANGUAGES, N_, choose, translations

TEMPLATES = Path(__file__).parent / "templates"
Catalogue = Callable[[str], gettext.NullTranslations]
ROLE_NAMES = {
    Role.NURSE: N_("Nurse"),
    Role.TEAM_LEAD: N_("Team lead"),
    Role.RESPONSE_CENTRE: N_("Response centre"),
    Role.MUNICIPALITY_ADMIN: N_("Municipality administrator"),
    Role.INSTALLER: N_("Installer"),
    Role.AUDITOR: N_("Auditor"),
    Role.PATIENT: N_("Patient"),
    Role.RELATIVE: N_("Relative"),
}


class Pages:
    """The template environments, one per language, made on first use."""

    def __init__(self, catalogue: Catalogue = translations) -> None:
        self.catalogue = catalogue
        self._environments: dict[str, Environment] = {}

    def translations(self, language: str) -> gettext.NullTranslations:
        """The catalogue the pages of `language` are rendered with."""
        return self.catalogue(language)

    def environment(self, language: str) -> Environment:
        """The environment of `language`: its catalogue, its number and date filters."""
        if language not in self._environments:
            env = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=True,
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_translations(self.translations(language), newstyle=True)  # type: ignore[attr-defined]
            env.filters.update(formats.filters(language))
            env.globals["static"] = assets().url
            self._environments[language] = env
        return self._environments[language]


def pages_of(request: Request) -> Pages:
    """The application's pages (made on first use)."""
    state = request.app.state
    if getattr(state, "pages", None) is None:
        state.pages = Pages()
    pages: Pages = state.pages
    return pages


def language_of(request: Request) -> str:
    """The language of the answer to `request`."""
    return choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def reader_of_page(request: Request) -> Reader:
    """Who reads the page, for texts worded by the services (alert titles and sentences): the page's language
    and the catalogue its templates use."""
    language = language_of(request)
    return Reader(language, pages_of(request).translations(language))


def gettext_of(request: Request) -> Callable[[str], str]:
    """gettext in the request's language, for texts made in Python (messages next to a form field)."""
    return pages_of(request).translations(language_of(request)).gettext


def signed_in(request: Request) -> Principal | None:
    """The person the access policy authenticated for this request, if any (error pages show them too)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def here(request: Request) -> str:
    """The request's path and query: where the language switch and a sign-in return to."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The template rendered in the request's language, with what every page shows: the person, their role and
    pages, the CSRF token of their session, the languages and the current address."""
    language = language_of(request)
    me = signed_in(request)
    page = pages_of(request).environment(language).get_template(template)
    html = page.render(
        **context,
        language=language,
        languages=LANGUAGES,
        me=me,
        role_name=ROLE_NAMES.get(me.role, "") if me else "",
        menu=menu(me.role) if me else [],
        csrf_token=me.csrf_token if me and me.csrf_token else "",
        here=here(request),
    )
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))
