"""The processes `tryggheim demo` starts, started the way it starts them, for the kill -9 test
(tests/demo_hygiene/test_no_orphans.py): the embedded PostgreSQL from the main thread, and from a second thread
that lives as long as the process (the demo's gateway thread) the radio home's private Mosquitto, its
Zigbee2MQTT stand-in and an edge agent on the simulator (its cloud is a closed port: it only retries).

Run as `python -m tests.demo_hygiene.children STATE_DIR`; prints `NOTICE <text>` for what start-up did to the
state directory, then `CHILDREN <pid> ...`, then waits to be killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from cloud.db.embedded import EmbeddedPostgres
from common.children import die_with_parent
from common.ports import free_port
from edge.config import toml_text
from tryggheim.demo import radio

TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


def _agent(home: Path, broker_port: int) -> subprocess.Popen[bytes]:
    """An edge agent as homes.py starts one, on the simulator and the private broker."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "credential").write_text("not-a-real-credential")
    values = {"cloud_url": f"http://127.0.0.1:{free_port()}", "gateway_id": str(uuid.uuid4()),
              "credential_file": str(home / "credential"), "outbox_path": str(home / "outbox.sqlite"),
              "insecure_dev": True}  # fmt: skip
    (home / "gateway.toml").write_text(toml_text(values))
    env = {**os.environ, "TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true", "TRYGGHEIM_EDGE_MQTT__ENABLED": "true",
           "TRYGGHEIM_EDGE_MQTT__PORT": str(broker_port)}  # fmt: skip
    with (home / "agent.log").open("ab") as log:
        return subprocess.Popen(
            [TRYGGHEIM, "edge", "run", "--config", str(home / "gateway.toml")], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )  # fmt: skip


def main(state: Path) -> None:
    """Start everything, say what was started, and wait."""
    database = EmbeddedPostgres(state / "db")
    database.start()
    for notice in database.notices:
        print("NOTICE", notice.text(), flush=True)
    started = threading.Event()

    def children() -> None:
        port = free_port()
        broker = radio.start_broker(state / "mosquitto", port, lambda line: print("NOTICE", line, flush=True))
        publisher = radio.start_publisher(port, 12, state / "publisher.log")
        agent = _agent(state / "edge" / "home-1", port)
        print("CHILDREN", database.pid, broker.pid, publisher.pid, agent.pid, flush=True)
        started.set()
        threading.Event().wait()  # this thread is the children's parent as far as the kernel's signal goes

    threading.Thread(target=children, daemon=True).start()
    started.wait(60)
    threading.Event().wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
