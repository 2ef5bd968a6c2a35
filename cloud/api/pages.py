"""The HTML entry page (the worklist and patient pages come with the triage UI)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cloud.access.policy import Public
from common.i18n import negotiate, translations

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse, dependencies=[Public])
async def index(request: Request) -> HTMLResponse:
    """Sign-in page in the browser's language (bokmål first)."""
    language = negotiate(request.headers.get("accept-language"))
    _ = translations(language).gettext
    title = escape(_("Tryggheim: sign in"))
    return HTMLResponse(
        f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Tryggheim</h1>
<form method="post" action="/auth/login" id="login">
<label>{escape(_("User name"))} <input name="username" autocomplete="username" required></label>
<label>{escape(_("Password"))} <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{escape(_("Sign in"))}</button>
</form><p id="status" role="status"></p></main>
<script>
document.getElementById("login").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("/auth/login", {{
    method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{username: form.get("username"), password: form.get("password")}}),
  }});
  const me = response.ok ? await (await fetch("/api/v1/me")).json() : null;
  const status = document.getElementById("status");
  status.textContent = me ? "{escape(_("Signed in as"))} " + me.username : "{escape(_("Sign-in failed"))}";
}});
</script></body></html>"""
    )
