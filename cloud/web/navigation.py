"""Where a browser is sent: only to paths of this service (no open redirect), to sign-in and back, to each
role's first page after sign-in, and back to a page after a form post (redirect-after-post, so reloading never
posts twice); and the pages each role finds in the header."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse

from cloud.access.roles import AUDIT_READERS, FLEET_READERS, KIT_MANAGERS, PATIENT_SCOPE, RESPONSE_CENTRE_SCREEN, Role
from common.i18n import N_

SIGN_IN = "/signin"
# Where sign-in lands when it was not sent from a page: it sends each role on to its own first page.
START = "/start"
# Where a citizen lands after signing in: a patient on their own page, a relative on the page of those they follow.
CITIZEN_HOMES = {"patient": "/me", "relative": "/relative"}
# The tag of routes that answer only pages: their errors are pages whatever the client accepts.
PAGES_TAG = "pages"
# The registry's, the administration's and the auditors' first pages.
REGISTRY_PAGE, ADMIN_PAGE, AUDIT_PAGE = "/registry/patients", "/admin", "/audit"


def local_path(target: object) -> str:
    """`target` when it is a path on this service (`/alerts/7?x=1`), else the worklist: never another host
    (`//evil.example`, `https://…`, a backslash some browsers read as a slash) or a control character."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def to_sign_in(target: str) -> str:
    """The sign-in page's address that returns to `target` afterwards."""
    return f"{SIGN_IN}?next={quote(local_path(target), safe='/')}"


def see_other(target: str) -> RedirectResponse:
    """A 303 to a path of this service (anything else goes to the worklist): after a post the browser fetches
    the page with GET."""
    return RedirectResponse(local_path(target), status_code=303)


def after_sign_in(target: str) -> str:
    """Where a sign-in returns to: `target` if it is a local page other than sign-in itself and the worklist
    (which not every role works from), else the start, which knows the person's role."""
    path = local_path(target)
    return START if path.startswith(SIGN_IN) or path == "/" else path


def menu(role: Role) -> list[tuple[str, str]]:
    """The pages in the header for `role` (address, catalogue msgid): the worklist and the handover for the
    roles with patient data, the response centre's screen for the roles that may open it, the registry and the
    administration for the municipality administrator, the audit log for auditors, and the start page for the
    others; the fleet for those who read it, and the homes and kits for those who manage kits. A patient's page
    is reached from the rows that name the patient."""
    if role in AUDIT_READERS:
        return [(AUDIT_PAGE, N_("Audit log"))]
    if PATIENT_SCOPE[role] == "none":
        return [*_kit_pages(role)] or [(START, N_("Start"))]
    if PATIENT_SCOPE[role] == "self":  # a citizen: their own page comes with the citizens' pages
        return []
    pages = [("/", N_("Worklist")), ("/handover", N_("Handover"))]
    if role in RESPONSE_CENTRE_SCREEN:
        # The centre's own screen first: it is where its operators work.
        pages.insert(0 if role == Role.RESPONSE_CENTRE else 1, ("/response-centre", N_("Response centre")))
    if role == Role.MUNICIPALITY_ADMIN:
        pages += [(REGISTRY_PAGE, N_("Registry")), (ADMIN_PAGE, N_("Administration"))]
    return pages + _kit_pages(role)


def _kit_pages(role: Role) -> list[tuple[str, str]]:
    """The fleet (FLEET_READERS) and the homes and kits (KIT_MANAGERS)."""
    pages = [("/fleet", N_("Fleet"))] if role in FLEET_READERS else []
    return pages + ([("/kits", N_("Homes and kits"))] if role in KIT_MANAGERS else [])


def is_page_request(request: Request) -> bool:
    """Whether the answer should be a page rather than JSON: the route answers only pages, or a browser asks
    for HTML by its Accept header (a navigation or a form post), or htmx asks for a fragment of a page."""
    if PAGES_TAG in (getattr(request.scope.get("route"), "tags", None) or ()):
        return True
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"
