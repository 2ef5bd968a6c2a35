"""Errors as pages a person understands, for page requests only; API clients keep their JSON answers.

A page request that is not signed in (401) goes to sign-in and comes back afterwards; someone whose role has
no patient data who opens the worklist goes to the start, which says what they can use; 403, 404 and the rest
become a page in the person's language that says what happened and where to go. The access layer's messages
are in the catalogues, so "This patient is not in your care teams." reads in bokmål too. The service words its
refusals for the reader of Accept-Language, so a refusal is recognised in any of the languages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cache

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from cloud.access.authn import CSRF_HEADER
from cloud.access.roles import PATIENT_SCOPE
from cloud.web.navigation import START, is_page_request, local_path, see_other, to_sign_in
from cloud.web.templating import gettext_of, here, render, signed_in
from common.i18n import LANGUAGES, N_, translations

Handler = Callable[[Request, Exception], Awaitable[Response]]
HEADINGS = {
    400: N_("The request could not be understood"),
    403: N_("You do not have access to this"),
    404: N_("Not found"),
    405: N_("Not found"),
    409: N_("This has already been done"),
    422: N_("Something in the form needs correcting"),
    429: N_("Please wait a little"),
    503: N_("The service is busy"),
}
OTHER_HEADING = N_("Something went wrong")
INVALID = "The address or the form has a value that is not valid."
# The service's refusals as a person reads them; a refusal not listed shows its heading alone.
EXPLANATIONS = {
    "This patient is not in your care teams.": N_(
        "This patient is not in your care teams, so you cannot see or change their alerts."
    ),
    "No such alert.": N_("There is no such alert, or it belongs to another municipality."),
    "No such patient.": N_("There is no such patient, or they belong to another municipality."),
    "Not Found": N_("There is no page at this address."),
    "Method Not Allowed": N_("There is no page at this address."),
    "Missing or wrong {header} header for a cookie session.": N_(
        "The form did not come from a page of this service, or it has expired. Nothing was saved: open the page "
        "again and repeat what you did."
    ),
    "The alert is already resolved.": N_("Someone has already resolved this alert."),
    "No such home in your municipality.": N_("There is no such home, or it belongs to another municipality."),
    INVALID: N_("The address or the form has a value that is not valid."),
    "This person has withdrawn your access to their page.": N_("This person has withdrawn your access to their page."),
    "You have not been invited to see this person's page.": N_("You have not been invited to see this person's page."),
    "A citizen sees their own record only (/api/v1/citizen/record).": N_("You can only see your own page."),
    "This is the patient's own page; you see theirs under /relative.": N_(
        "This page is the patient's own. Use the link to my page to see theirs."
    ),
}


@cache
def _explanations() -> dict[str, str]:
    """The explanation of each refusal by its text in every language (and in the source language)."""
    found = {}
    for source, explanation in EXPLANATIONS.items():
        for said in (source, *(translations(language).gettext(source) for language in LANGUAGES)):
            found[said.format(header=CSRF_HEADER)] = explanation
    return found


async def _return_to(request: Request) -> str:
    """Where a page request should come back to after signing in: the page itself, or for a form post the page
    the form was on (its `next` field)."""
    if request.method in {"GET", "HEAD"}:
        return here(request)
    try:
        return local_path((await request.form()).get("next"))
    except (AssertionError, ValueError):
        return "/"


async def http_error(request: Request, exc: Exception) -> Response:
    """The answer to an HTTP error: a page (or sign-in) for a page request, the API's JSON otherwise."""
    assert isinstance(exc, HTTPException)
    if not is_page_request(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == 401:
        target = to_sign_in(await _return_to(request))
        if request.headers.get("hx-request") == "true":  # htmx follows this header instead of swapping
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    me = signed_in(request)
    if exc.status_code == 403 and request.url.path == "/" and me and PATIENT_SCOPE[me.role] == "none":
        return see_other(START)
    return error_page(request, exc.status_code, str(exc.detail), exc.headers)


def error_page(request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """The error page for `status`, with the (translated) detail."""
    _ = gettext_of(request)
    explanation = _explanations().get(detail)
    context = {
        "status": status,
        "heading": _(HEADINGS.get(status, OTHER_HEADING)),
        "detail": _(explanation) if explanation else "",
    }
    return render(request, "error.html", context, status=status, headers=headers)


def when_page(api_answer: Handler) -> Handler:
    """A handler of invalid requests: the error page for a page request, else `api_answer`."""

    async def answer(request: Request, exc: Exception) -> Response:
        if is_page_request(request) and isinstance(exc, RequestValidationError):
            return error_page(request, 422, INVALID)
        return await api_answer(request, exc)

    return answer
