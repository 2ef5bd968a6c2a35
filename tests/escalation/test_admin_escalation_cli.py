"""`tryggheim admin escalation ...` as real processes: a municipality sets its policy and endpoints, bad
input is refused with the failing field named, secrets are shown once and never listed, every change audited."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg.rows import dict_row

from cloud.db.pool import connect
from cloud.escalation import policies
from cloud.notify.sealing import SecretBox
from tests.escalation.conftest import three_steps
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


Cli = Callable[..., tuple[int, str, str]]


def test_policy_and_endpoints_from_the_command_line(esc_db: TestDatabase, tenants: Tenants, tmp_path: Path) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=esc_db.runtime_url)

    def cli(*args: str, key: str | None = None) -> tuple[int, str, str]:
        done = run_cli("admin", "escalation", *args, env={**env, **({"TRYGGHEIM_SECRETS_KEY": key} if key else {})})
        return done.returncode, done.stdout, done.stderr

    _policies_are_validated_and_stored(cli, tmp_path)
    _endpoints_are_validated_and_secrets_sealed(cli, esc_db.runtime_url)
    code, out, _ = cli("remove-endpoint", "team_lead", "-m", "0301", "--channel", "email")
    assert code == 0 and json.loads(out)["removed"] is True
    code, out, _ = cli("reset-policy", "-m", "0301")
    assert code == 0 and json.loads(out)["removed"] is True

    async def in_effect() -> str:
        async with await connect(esc_db.runtime_url, autocommit=False) as conn:
            return (await policies.document_for(conn, tenants.a.municipality_id)).policies[0].name

    assert asyncio.run(in_effect()) == "safety_alarm"  # the shipped default again
    with psycopg.connect(esc_db.runtime_url, row_factory=dict_row) as conn:
        actions = [row["action"] for row in conn.execute(
            "SELECT action FROM audit_log WHERE action LIKE 'cli.escalation.%%' ORDER BY id"
        ).fetchall()]  # fmt: skip
    assert actions == [
        "cli.escalation.set-policy",
        "cli.escalation.set-endpoint",
        "cli.escalation.set-endpoint",
        "cli.escalation.set-endpoint",
        "cli.escalation.remove-endpoint",
        "cli.escalation.reset-policy",
    ]


def _policies_are_validated_and_stored(cli: Cli, tmp_path: Path) -> None:
    """Unreadable and invalid documents are refused; a good one applies to its municipality alone."""
    code, out, _ = cli("show", "-m", "0301")
    assert code == 0 and json.loads(out)["source"] == "default"

    code, _, err = cli("set-policy", str(tmp_path / "missing.yaml"), "-m", "0301")
    assert code != 0 and "cannot read it" in err

    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: x\n    classes: [alarm]\n    steps: []\n", encoding="utf-8")
    code, _, err = cli("set-policy", str(bad), "-m", "0301")
    assert code != 0 and "steps" in err

    good = tmp_path / "policy.json"
    good.write_text(json.dumps(three_steps(email_after=1.5, webhook_after=4)), encoding="utf-8")
    code, out, err = cli("set-policy", str(good), "-m", "0301")
    assert code == 0, err
    assert json.loads(out)["policies"] == ["three", "internal"]
    code, out, _ = cli("show", "-m", "0301")
    shown = json.loads(out)
    assert shown["source"] == "municipality" and shown["policies"][0]["steps"][1]["after_minutes"] == 1.5
    assert shown["unreached"] == ["email:team_lead", "webhook:response_centre"]
    code, out, _ = cli("show", "-m", "4601")
    assert json.loads(out)["source"] == "default"  # the other municipality is untouched


def _endpoints_are_validated_and_secrets_sealed(cli: Cli, runtime_url: str) -> None:
    """Bad addresses are refused; a webhook secret is shown once, never listed, and stored sealed."""
    refused = {
        ("team_lead", "--email", "Kari Nordmann"): "not an e-mail address",
        ("response_centre", "--webhook", "http://alarm.example.no/hook"): "must use https",
        ("Team Lead", "--email", "leder@kommune.no"): "not a role name",
    }
    for args, message in refused.items():
        code, _, err = cli("set-endpoint", args[0], "-m", "0301", args[1], args[2])
        assert code != 0 and message in err, (args, err)

    code, out, err = cli("set-endpoint", "team_lead", "-m", "0301", "--email", "leder@kommune.no")
    assert code == 0, err
    key = Fernet.generate_key().decode()
    code, out, err = cli("set-endpoint", "response_centre", "-m", "0301", "--webhook", "https://alarm.example.no/h",
                         key=key)  # fmt: skip
    assert code == 0, err
    secret = json.loads(out)["secret"]
    assert len(secret) >= 32
    code, _, err = cli("set-endpoint", "team_lead", "-m", "0301", "--sms", "+4799000001")
    assert code != 0 and "--sms-gateway" in err, err
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as gateway:
        json.dump({"url": "https://sms.example.no/send", "format": "form",
                   "fields": {"to": "{to}", "text": "{text}", "ref": "{id}"}}, gateway)  # fmt: skip
        gateway.flush()
        code, out, err = cli("set-endpoint", "team_lead", "-m", "0301", "--sms", "+4799000001", "--sms-gateway",
                             gateway.name)  # fmt: skip
    assert code == 0 and len(json.loads(out)["secret"]) >= 32, err
    code, out, _ = cli("endpoints", "-m", "0301")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(e["target"], e["channel"], e["has_secret"]) for e in listed] == [
        ("response_centre", "webhook", True),
        ("team_lead", "email", False),
        ("team_lead", "sms", True),
    ]
    assert secret not in out
    code, out, _ = cli("show", "-m", "0301")
    assert json.loads(out)["unreached"] == []

    with psycopg.connect(runtime_url, row_factory=dict_row) as conn:
        stored = conn.execute("SELECT secret FROM notification_endpoints WHERE target = 'response_centre'").fetchone()
    # Sealed at rest; what the receiver was given is what deliveries are signed with.
    assert stored is not None and secret not in stored["secret"] and SecretBox(key).open(stored["secret"]) == secret
    code, _, err = cli("endpoints", "-m", "0301", key="not-a-key")
    assert code != 0 and "TRYGGHEIM_SECRETS_KEY" in err and "not a Fernet key" in err
