"""One demo run: the stand-ins, the embedded database and its population, the service, the three homes and the
fourth kit, in numbered steps; then the URL, the sign-ins and the guided tour (tryggheim/demo/tour.py). With
`exit_when_ready` it waits for the story's milestones (tryggheim/demo/milestones.py) and stops by itself.

Every child process is started from one thread that lives until the demo stops: the kernel's parent-death signal
(common/children.py) follows the thread that started a child, not the process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cloud.config import CloudSettings
from cloud.runtime import Database
from common.i18n import N_
from tryggheim.demo import console, homes, milestones, story, tour
from tryggheim.demo import interop as demo_interop
from tryggheim.demo import kit as demo_kit
from tryggheim.demo import mail as demo_mail
from tryggheim.demo import oidc_standin as demo_oidc
from tryggheim.demo import seed as demo_seed
from tryggheim.demo import sms as demo_sms
from tryggheim.demo.helseid_standin import NationalServices

SHUTDOWN_GRACE_S = 3.0  # a home failing this long before the demo stops failed because it stops
HISTORY_WAIT_S = 90.0  # how long the proposal of Kari's limits waits for her history to arrive


class Stopping(Exception):  # noqa: N818 - a signal between threads, not an error
    """The demo is stopping: start nothing more."""


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    state_dir: Path
    speed: float
    exit_when_ready: bool
    timeout_s: float


@dataclass
class Run:
    """The state of one run, shared by the service's start-up hooks and the thread that starts the homes."""

    options: Options
    settings: CloudSettings
    started: float = field(default_factory=time.monotonic)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)
    runtime_url: str = ""
    agents: homes.Agents = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcome: list[int] = field(default_factory=list)
    reached: milestones.Milestones = field(init=False)

    def __post_init__(self) -> None:
        self.reached = milestones.Milestones(self.started)

    def prepare(self, db: Database, national: NationalServices) -> None:
        """Steps 4 and 5, once the database is up: the population, escalation, national services, answers."""
        for notice in db.notices:  # what start-up did to an earlier run's state
            console.say(notice.text(console.gettext))
        self.runtime_url = db.runtime_url
        console.step(4, N_("Creating the municipality, its accounts and the three homes"))
        self.accounts.extend(demo_seed.seed(db.runtime_url, self.options.state_dir))
        demo_oidc.bind_staff(db.runtime_url)
        console.step(5, N_("Escalation by e-mail and SMS, VKP and PMD, Ola's answers to the day's questions"))
        demo_mail.configure(db.runtime_url, demo_seed.MUNICIPALITY[0])
        demo_interop.configure(db.runtime_url, national, demo_seed.MUNICIPALITY[0])
        story.run_backfill(db.runtime_url)

    def mail_received(self, to: str, subject: str, link: str) -> None:
        """The mail sink's line for each e-mail; the first is a milestone."""
        self.reached.reach("first_email")
        console.tell(N_("E-mail to {to}: {subject} {link}"), to=to, subject=subject, link=link)

    def started_at(self, url: str) -> None:
        """The service listens: start the homes off the server's event loop (they talk to this very server)."""
        threading.Thread(target=self._homes, args=(url,), name="demo-homes", daemon=True).start()

    def _homes(self, url: str) -> None:
        try:
            self._start_homes(url)
        except Stopping:
            pass
        except Exception as exc:
            # Ctrl-C while a home was enrolling: the service stopped answering first, and the stop follows.
            if not self.stopping.wait(SHUTDOWN_GRACE_S):
                # The demo keeps serving; say what failed (details in the log file).
                console.tell(N_("The demo's homes could not start: {error}"), error=exc)
        # This thread started the children, and its end signals them all at once (common/children.py): it lives
        # until `stop` has stopped them in order, or a second SIGTERM would reach agents still shutting down.
        self.stopped.wait()

    def _start(self, url: str, home: story.Home) -> Path:
        """Start one home, unless the demo is stopping (then raise `Stopping`): under the lock `stop` takes, so
        no child is started after the children were stopped."""
        with self.lock:
            if self.stopping.is_set():
                raise Stopping
            return homes.start_home(url, self.runtime_url, self.options.state_dir, home, self.options.speed,
                                    self.agents)  # fmt: skip

    def _start_homes(self, url: str) -> None:
        kari, ola, couple_home = story.HOMES
        console.step(6, N_("Kari (heart failure): 30 days of history, then her weight and pulse climb"))
        self._start(url, kari)
        console.step(7, N_("Ola (COPD): his oxygen saturation falls and his pulse rises"))
        self._start(url, ola)
        console.step(
            8, N_("Per and Berit (safety alarm, door sensor): replayed Bluetooth devices and a local Mosquitto")
        )
        home_dir = self._start(url, couple_home)
        story.send_last_night(url, homes.credential(home_dir)[1], story.couple_door())
        console.step(9, N_("A fourth kit waits for the installer"))
        with self.lock:
            if self.stopping.is_set():
                raise Stopping
            self.agents.append(demo_kit.start(url, self.runtime_url, self.options.state_dir, console.gettext))
        tour.welcome(url, self.accounts, self.options.state_dir)
        if self.options.exit_when_ready:
            password = next(p for _r, user, p in self.accounts if user == milestones.NURSE)
            args = (self.reached, url, self.runtime_url, password, demo_sms.received, self.options.timeout_s,
                    self.outcome)  # fmt: skip
            threading.Thread(target=milestones.watch, args=args, name="demo-milestones", daemon=True).start()
        self._propose_limits()

    def _propose_limits(self) -> None:
        """Kari's limits are proposed once her agent has sent her history (the hourly job would, within the hour)."""
        deadline = time.monotonic() + HISTORY_WAIT_S
        while time.monotonic() < deadline and not self.stopping.is_set():
            proposal = asyncio.run(demo_seed.propose_limits(self.runtime_url, story.kari_id(self.runtime_url)))
            if "waiting for approval" in proposal:
                console.tell(N_("Kari's personal limits wait for the nurse's approval on her page"))
                return
            self.stopping.wait(5)

    def stop(self) -> None:
        """Stop the homes (the service calls this before the database stops); none starts after this."""
        with self.lock:
            self.stopping.set()
        try:
            homes.stop_agents(self.agents)
        finally:
            self.stopped.set()
