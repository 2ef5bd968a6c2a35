"""deploy/compose/compose.yaml: the structure the issue asks for (it is not started here: no Docker daemon)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY

COMPOSE = DEPLOY / "compose"
PINNED = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "DATABASE_URL", "OWNER_URL")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_services_and_the_order_they_start_in(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", "migrate", "api", "proxy"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["deploy"]["replicas"] == 2
    assert "ports" not in services["api"], "the replicas are reached only through the proxy"
    assert services["db"]["image"].startswith("timescale/timescaledb:")


def test_every_long_running_service_is_health_checked(compose: dict[str, Any]) -> None:
    for name in ("db", "api", "proxy"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] == "CMD" and len(check["test"]) > 1, name
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name in ("db", "proxy"):
        assert PINNED.match(compose["services"][name]["image"]), name
    for name in ("migrate", "api"):
        assert compose["services"][name]["build"]["dockerfile"] == "deploy/docker/cloud.Dockerfile"


def test_secrets_come_from_files_and_no_value_is_inline(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    assert declared and all(set(spec) == {"file"} for spec in declared.values())
    assert all(spec["file"].startswith("./secrets/") for spec in declared.values())
    for name, service in compose["services"].items():
        for secret in service.get("secrets", []):
            assert secret in declared, (name, secret)
        mounted = {f"/run/secrets/{secret}" for secret in service.get("secrets", [])}
        for variable, value in (service.get("environment") or {}).items():
            if any(word in variable for word in SECRET_WORDS):
                assert variable.endswith("_FILE"), (name, variable)
                assert value in mounted, (name, variable, value)
    text = (COMPOSE / "compose.yaml").read_text()
    assert not re.search(r"postgres(ql)?://\w+:[^@\s]+@", text), "a database URL with a password"


def test_the_proxy_terminates_tls_with_the_certificate_from_secrets(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    assert "443:443" in proxy["ports"]
    assert set(proxy["secrets"]) == {"tls_certificate", "tls_private_key"}
    caddyfile = (COMPOSE / "Caddyfile").read_text()
    assert "tls /run/secrets/tls_certificate /run/secrets/tls_private_key" in caddyfile
    assert re.search(r"dynamic a api 8080", caddyfile)
    trusted = compose["services"]["api"]["environment"]["TRYGGHEIM_TRUSTED_PROXIES"]
    assert trusted == proxy["networks"]["backend"]["ipv4_address"]


def test_the_roles_script_and_the_secrets_script_agree(compose: dict[str, Any]) -> None:
    """The database's init script reads the password files the compose file mounts into it, and the secrets
    script writes every file the compose file declares."""
    roles = (COMPOSE / "initdb" / "10-tryggheim-roles.sh").read_text()
    for secret in ("db_owner_password", "db_app_password"):
        assert f"/run/secrets/{secret}" in roles
        assert secret in compose["services"]["db"]["secrets"]
    maker = (COMPOSE / "make-secrets.sh").read_text()
    for spec in compose["secrets"].values():
        assert f"secrets/{Path(spec['file']).name}" in maker, spec["file"]
