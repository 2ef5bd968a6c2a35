"""What the demo prints once everything runs: the address, the sign-ins (role, user name, password), a short
guided tour through the story, where the log file is, and how to reach the `tryggheim` command."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from common.i18n import N_, translations
from tryggheim.demo import console, degraded, story
from tryggheim.demo.seed import MUNICIPALITY, describe

TOUR = (
    N_(
        "1. Sign in as the nurse (demo.sykepleier) at {url}/: the worklist shows Kari's rising weight, Ola's falling "
        "oxygen saturation and Per and Berit's night and alarm."
    ),
    N_(
        "2. Acknowledge Kari's alert: open it, read why it opened, press \u00abAcknowledge\u00bb; resolve it and its "
        "journal note reaches the VKP stand-in (a line here)."
    ),
    N_(
        "3. Open the response centre: sign in as demo.responssenter at {url}/response-centre and take Per's alarm "
        "before the escalation e-mails and SMS below climb."
    ),
    N_("4. Kari's own page: demo.kari at {url}/me; her son (the relative): demo.parorende at {url}/relative."),
    N_(
        "5. The installer (demo.installator) confirms the fourth kit's home at the address above; the administrator "
        "(demo.admin) has {url}/admin, the auditor (demo.revisor) the audit log at {url}/audit."
    ),
    N_(
        "6. Cut Per and Berit's network: {uplink} down, then press Berit's bedside button: {press}. Within "
        "{overdue} s their gateway sounds the siren and texts the duty phone (an SMS line here); {uplink} up brings "
        "the alarm to the response centre with that history."
    ),
)


def _program() -> Path:
    """The `tryggheim` command as a person types it from the current directory (it lives in the virtual
    environment, which need not be on PATH)."""
    program = Path(sys.executable).parent / "tryggheim"
    with contextlib.suppress(ValueError):
        program = program.relative_to(Path.cwd())
    return program


def admin_command(state_dir: Path, arguments: str) -> str:
    """The command line running `tryggheim admin <arguments>` on the database of a demo running in `state_dir`."""
    return f"{_program()} admin --state-dir {state_dir} {arguments}"


def welcome(url: str, accounts: list[tuple[str, str, str]], state_dir: Path) -> None:
    """Print the address, the sign-ins, the guided tour and the practical notes."""
    console.tell(N_("Tryggheim is running at {url}"), url=url)
    console.say(url)
    console.tell(N_("Sign-ins (role, user name, password):"))
    for line in describe(accounts, translations(console.language())):
        console.say(line)
    console.tell(N_("Guided tour:"))
    couple = next(home for home in story.HOMES if home.radio)
    where = f"--state-dir {state_dir} --home {couple.seed}"
    uplink, press = f"{_program()} demo uplink {where}", f"{_program()} demo press {where}"
    for line in TOUR:
        text = console.gettext(line).format(url=url, uplink=uplink, press=press, overdue=degraded.OVERDUE_S)
        console.say("  " + text)
    console.tell(N_("Or sign in as staff with HelseID (the demo's stand-in lists them): {url}/signin/helseid"), url=url)
    admin = admin_command(state_dir, f"staff list -m {MUNICIPALITY[0]}")
    console.tell(N_("Administration on this demo's database: {command}"), command=admin)
    log = (state_dir / "logs" / "demo.log").resolve()
    console.tell(N_("The service's log (JSON lines) and the mail server's are in {path}"), path=log)
    console.tell(N_("Other commands: . .venv/bin/activate, then tryggheim --help (or .venv/bin/tryggheim --help)"))
    console.tell(N_("Press Ctrl-C to stop."))
