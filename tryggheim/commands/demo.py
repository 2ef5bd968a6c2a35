"""`tryggheim demo`: everything on one machine on embedded defaults."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from cloud.config import CloudSettings
from cloud.runtime import Database, StartupError
from common.i18n import translations
from tryggheim.commands import _demo_uplink
from tryggheim.commands._startup import demo_admin_command, fail, load_settings
from tryggheim.demo import homes as demo_homes
from tryggheim.demo import interop as demo_interop
from tryggheim.demo import kit as demo_kit
from tryggheim.demo import mail as demo_mail
from tryggheim.demo import oidc_standin as demo_oidc
from tryggheim.demo import registry as demo_registry
from tryggheim.demo import seed as demo_seed

app = typer.Typer(add_completion=False, help="Run everything on one machine with simulated homes.")
_demo_uplink.register(app)


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
            # The service's routine JSON log lines would bury the demo's story; TRYGGHEIM_LOG_LEVEL brings them back.
            log_level=os.environ.get("TRYGGHEIM_LOG_LEVEL", "WARNING"),
        )
    )
    return settings.model_copy(update={"public_url": f"http://{settings.host}:{settings.port}"})


def _welcome(url: str, accounts: list[tuple[str, str, str]], nb: Any) -> None:
    """The accounts, the addresses and what to try, once the service answers."""
    _ = nb.gettext
    print(_("Demo accounts (role, user name, password):"), flush=True)
    for line in demo_seed.describe(accounts, nb):
        print(line, flush=True)
    print(_("Tryggheim is running at {url}").format(url=url), flush=True)
    print(url, flush=True)
    print(_("Worklist in the browser (sign in as the nurse above): {url}/").format(url=url), flush=True)
    print(_("Safety alarms in the browser (sign in as the response centre above): {url}/response-centre").format(
        url=url), flush=True)  # fmt: skip
    print(_("Kari's own page (sign in as the patient above): {url}/me; her son's (the relative): {url}/relative")
          .format(url=url), flush=True)  # fmt: skip
    print(_("Resolve an alert: its journal note goes to the VKP stand-in, and Kari's measurements to PMD."), flush=True)
    print(_("Press Ctrl-C to stop."), flush=True)


def _other_ways_in(url: str, state_dir: Path, nb: Any) -> None:
    """HelseID beside the passwords, and the admin commands on this demo's database."""
    _ = nb.gettext
    print(_("Or sign in as staff with HelseID (the demo's stand-in lists them): {url}/signin/helseid").format(
        url=url), flush=True)  # fmt: skip
    admin = demo_admin_command(state_dir, f"staff list -m {demo_seed.MUNICIPALITY[0]}")
    print(_("Administration on this demo's database: {command}").format(command=admin), flush=True)


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    state_dir: Annotated[
        Path, typer.Option(envvar="TRYGGHEIM_STATE_DIR", help="Where the demo keeps its database.")
    ] = Path(".state/demo"),
) -> None:
    """Start the embedded database and the cloud service, print the URL, run until Ctrl-C."""
    if ctx.invoked_subcommand:
        return
    from cloud.db.embedded import free_port
    from cloud.serve import serve

    os.environ.pop("TRYGGHEIM_DATABASE_URL", None)
    smtp_port = free_port()
    settings = _settings(state_dir, smtp_port)
    nb = translations("nb")
    _ = nb.gettext

    def mail_received(to: str, subject: str, link: str) -> None:
        print(_("E-mail to {to}: {subject} {link}").format(to=to, subject=subject, link=link), flush=True)

    sink = demo_mail.start_sink(smtp_port, mail_received)
    if sink is not None:
        print(_("Mail sink on 127.0.0.1:{port} prints the escalation e-mails").format(port=smtp_port), flush=True)
    national = demo_interop.start(state_dir, lambda line: print(_("National services: {line}").format(line=line),
                                                                flush=True))  # fmt: skip
    # Staff sign in through the HelseID stand-in too; the local accounts stay as the fallback.
    settings = demo_oidc.client_settings(settings, national.helseid.register_sign_in, national.helseid.issuer)
    print(_("Starting the embedded database in {path}").format(path=state_dir), flush=True)
    accounts: list[tuple[str, str, str]] = []

    runtime: list[str] = []

    def prepare(db: Database) -> None:
        for notice in db.notices:  # what start-up did to an earlier run's state
            print(notice.text(_), flush=True)
        runtime.append(db.runtime_url)
        accounts.extend(demo_seed.seed(db.runtime_url, state_dir))
        demo_oidc.bind_staff(db.runtime_url)
        demo_mail.configure(db.runtime_url, demo_seed.MUNICIPALITY[0])
        demo_interop.configure(db.runtime_url, national, demo_seed.MUNICIPALITY[0])

    agents: list[subprocess.Popen[bytes]] = []
    stopping = threading.Event()

    def stop_agents() -> None:
        demo_homes.stop_agents(agents)
        stopping.set()

    def scripted_gateway(url: str) -> None:
        try:
            print(
                _("Demo gateway: {result}").format(result=demo_seed.enrol_scripted_gateway(url, runtime[0])),
                flush=True,
            )
            agents.extend(demo_homes.start_agents(url, runtime[0], state_dir))
            print(_("Simulated homes: {count} edge agents running").format(count=len(demo_homes.HOMES)), flush=True)
            agents.append(demo_kit.start(url, runtime[0], state_dir, _))
            homes, patients, consents = demo_registry.counts(runtime[0])
            print(_("Registry: {homes} homes, {patients} patients, {consents} consents").format(
                homes=homes, patients=patients, consents=consents), flush=True)  # fmt: skip
            # The kernel's parent-death signal follows the *thread* that started a child: this thread
            # must live as long as the agents do, and sends the scripted gateway's heartbeats meanwhile.
            demo_seed.keep_reporting(url, runtime[0], stopping)
        except Exception as exc:  # the demo keeps serving; say what failed
            print(_("Demo gateway failed: {error}").format(error=exc), flush=True)

    def started(url: str) -> None:
        # Off the server's event loop: the scripted gateway talks to this very server over HTTP.
        threading.Thread(target=scripted_gateway, args=(url,), daemon=True).start()
        _welcome(url, accounts, nb)
        _other_ways_in(url, state_dir, nb)

    try:
        serve(settings, on_started=started, prepare=prepare, before_stop=stop_agents)
    except StartupError as exc:
        fail(str(exc))
    finally:
        national.stop()
        if sink is not None:
            demo_mail.stop_sink(sink)
    print(_("Stopped."), flush=True)
