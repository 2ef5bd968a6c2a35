"""`tryggheim demo`: everything on one machine on embedded defaults, told as one story (tryggheim/demo/run.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud.config import CloudSettings
from cloud.runtime import StartupError
from common.i18n import N_
from tryggheim.commands import _demo_uplink
from tryggheim.commands._startup import fail, load_settings
from tryggheim.demo import console
from tryggheim.demo import mail as demo_mail
from tryggheim.demo import oidc_standin as demo_oidc

if TYPE_CHECKING:
    from tryggheim.demo.run import Run

app = typer.Typer(add_completion=False, help="Run everything on one machine with simulated homes.")
_demo_uplink.register(app)
DEFAULT_SPEED = 720.0  # the simulated homes' clocks: a simulated day every two minutes
FAST_SPEED = 2880.0  # --fast: a simulated day every 30 seconds
FAST_MINUTE_S = 1.0  # --fast: one escalation policy minute lasts a second


def _settings(state_dir: Path, smtp_port: int) -> CloudSettings:
    """The embedded database, local sign-in and e-mail to the demo's mail sink, with short policy minutes."""
    settings = load_settings(
        lambda: CloudSettings(
            state_dir=state_dir,
            database_url=None,
            auth_mode="local",
            cookie_secure=False,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_from="varsel@demo.tryggheim.invalid",
            escalation_minute_s=demo_mail.DEMO_MINUTE_S,
            # The JSON log lines go to the log file under the state directory (tryggheim/demo/console.py).
            log_level=os.environ.get("TRYGGHEIM_LOG_LEVEL", "INFO"),
        )
    )
    return settings.model_copy(update={"public_url": f"http://{settings.host}:{settings.port}"})


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    state_dir: Annotated[
        Path, typer.Option(envvar="TRYGGHEIM_STATE_DIR", help="Where the demo keeps its database.")
    ] = Path(".state/demo"),
    speed: Annotated[float, typer.Option(min=1, help="How many times faster the homes' clocks run.")] = DEFAULT_SPEED,
    fast: Annotated[bool, typer.Option(help="Faster clocks and escalation (a policy minute lasts a second).")] = False,
    exit_when_ready: Annotated[
        bool, typer.Option(help="Stop once the story's milestones are reached; print the time each took.")
    ] = False,
    timeout: Annotated[float, typer.Option(min=10, help="With --exit-when-ready: give up after this many s.")] = 240,
    lang: Annotated[str | None, typer.Option(help="Language of the console lines: nb (default) or en.")] = None,
) -> None:
    """Start the stand-ins, the embedded database, the service and the homes; print the URL, the sign-ins and the
    guided tour; run until Ctrl-C (or, with --exit-when-ready, until the story's milestones are reached)."""
    if ctx.invoked_subcommand:  # `tryggheim demo uplink ...` talks to a running demo; it starts nothing
        return
    from common.ports import free_port
    from tryggheim.demo import run as demo_run
    from tryggheim.demo import seed as demo_seed

    console.choose_language(lang)
    os.environ.pop("TRYGGHEIM_DATABASE_URL", None)
    settings = _settings(state_dir, free_port())
    if fast:
        settings = settings.model_copy(update={"escalation_minute_s": FAST_MINUTE_S})
    if not _port_free(settings.host, settings.port):
        fail(console.gettext("port {port} is taken; set TRYGGHEIM_PORT to a free port").format(port=settings.port))
    try:
        demo_seed.stored_passwords(state_dir)
    except demo_seed.AccountsFileError as exc:
        fail(console.gettext("the demo's passwords cannot be read ({error}); put the file back as it was, or "
                             "start with an empty --state-dir").format(error=exc))  # fmt: skip
    options = demo_run.Options(state_dir, FAST_SPEED if fast else speed, exit_when_ready, timeout)
    with console.LogFile(state_dir):
        status = _run(demo_run.Run(options, settings))
    raise typer.Exit(status)


def _national_line(line: str) -> None:
    # A first call without the server's DPoP nonce is refused by design and retried at once: not news for people.
    if "use_dpop_nonce" not in line:
        console.tell(N_("National services: {line}"), line=line)


def _run(run: Run) -> int:
    """Start everything in order and serve until stopped; returns the exit status."""
    from cloud.serve import serve
    from tryggheim.demo import interop as demo_interop

    state_dir = run.options.state_dir
    console.step(1, N_("Mail sink and SMS gateway stand-in (the escalation messages are printed here)"))
    sink = demo_mail.start_sink(run.settings.smtp_port, run.mail_received)
    console.step(2, N_("HelseID, VKP and PMD stand-ins"))
    national = demo_interop.start(state_dir, _national_line)
    # Staff sign in through the HelseID stand-in too; the local accounts stay as the fallback.
    run.settings = demo_oidc.client_settings(run.settings, national.helseid.register_sign_in, national.helseid.issuer)
    console.step(3, N_("Embedded PostgreSQL in {path}"), path=state_dir)
    try:
        serve(run.settings, on_started=run.started_at, prepare=lambda db: run.prepare(db, national),
              before_stop=run.stop)  # fmt: skip
    except StartupError as exc:
        console.fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C before the service took over the signal (while seeding): no traceback
        run.stop()
        console.tell(N_("Stopped."))
        return 130
    finally:
        national.stop()
        if sink is not None:
            demo_mail.stop_sink(sink)
    console.tell(N_("Stopped."))
    return run.outcome[0] if run.outcome else 0
