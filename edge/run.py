"""The agent process's entry: `python -m edge.run --config PATH`, which `tryggheim edge run` execs into.

A home gateway has little memory, so the long-running process loads only what the agent uses: no command-line
framework (typer, click, rich and pygments stay in the short-lived `tryggheim` process that execs this one, and
the process keeps its id, so systemd's notify socket and watchdog see the same main process), no pydantic (the
configuration and catalogues are validated in a short-lived child: edge/validated.py), no YAML parser, a
source's libraries only when it is enabled, and advertisement parsers only when a device of that kind is heard
(docs/benchmarks.md, the edge section, has the figures).
tests/edge/test_lean.py guards the list.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import NoReturn

DEFAULT_CONFIG = Path("/etc/tryggheim/gateway.toml")


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2, as the `tryggheim` command reports a configuration error."""
    print(f"tryggheim: {message}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)


def without_http_cli() -> None:
    """httpx imports its command-line client (click, rich, pygments: about 10 MB) whenever those are installed,
    and they are: typer needs them. A None entry in `sys.modules` makes that one import fail, which httpx
    handles as "not installed" (its `main` then only explains how to install the CLI)."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    """Parse the two options, read the configuration and run the agent until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="tryggheim edge run", description="Run the gateway agent.")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="The gateway's TOML config file.")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    # Validation runs in a child forked before anything else loads (edge/validated.py), while this process
    # imports the agent.
    from edge.config import ConfigError
    from edge.validated import start

    pending = start(args.config)
    without_http_cli()
    from common.logs import configure_logging
    from edge.agent import run_agent
    from edge.http import InsecureURLError

    configure_logging(args.log_level)
    try:
        settings = pending.result().config
    except ConfigError as exc:
        fail(str(exc))
    try:
        asyncio.run(run_agent(settings))
    except InsecureURLError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
