"""The Dockerfiles: hadolint finds nothing, and the facts the issue asks for hold in each final stage."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DOCKERFILES, ROOT

HADOLINT = str(Path(sys.executable).parent / "hadolint")
PINNED_FROM = re.compile(r"^FROM \S+:\S+@sha256:[0-9a-f]{64}( AS \w+)?$")
# What a final stage may take from Debian: tools the service runs, never what builds.
RUNTIME_PACKAGES = {"cloud": {"postgresql-client-15"}, "gateway": set()}


def _stages(path: Path) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), one list per stage."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(name: str) -> None:
    result = _hadolint(DOCKERFILES[name])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install uv\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged image
    assert "DL3013" in result.stdout  # unpinned pip package


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_base_is_pinned_by_digest(name: str) -> None:
    froms = [stage[0] for stage in _stages(DOCKERFILES[name])]
    assert len(froms) >= 2, "multi-stage"
    for line in froms:
        assert PINNED_FROM.match(line), line


@pytest.mark.parametrize(("name", "extra"), [("cloud", "cloud"), ("gateway", "edge")])
def test_installed_from_the_lock_with_uv_in_the_build_stage_only(name: str, extra: str) -> None:
    *build, final = _stages(DOCKERFILES[name])
    build_runs = " ".join(line for stage in build for line in stage if line.startswith("RUN "))
    assert f"uv sync --frozen --no-dev --extra {extra}" in build_runs
    assert "--no-editable" in build_runs
    final_text = "\n".join(final)
    assert not re.search(r"\buv\b", final_text), "uv belongs to the build stage"
    for tool in ("gcc", "build-essential", "npm", "pip install"):
        assert tool not in final_text, tool
    # Debian packages only from the stage's allow-list (so no compiler, no -dev headers).
    installed = {word.split("=")[0].strip("'") for words in re.findall(r"apt-get install ([^&]*)", final_text)
                 for word in shlex.split(words) if not word.startswith("-")}  # fmt: skip
    assert installed <= RUNTIME_PACKAGES[name], installed - RUNTIME_PACKAGES[name]
    assert all("--no-install-recommends" in run for run in final if "apt-get install" in run)
    assert all("rm -rf /var/lib/apt/lists" in run for run in final if "apt-get install" in run)
    assert any(line.startswith("COPY --from=build /opt/venv") for line in final)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_final_stage_runs_as_a_user_and_is_health_checked(name: str) -> None:
    final = _stages(DOCKERFILES[name])[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(line.startswith("HEALTHCHECK ") and " CMD " in line for line in final)
    assert any(line.startswith("ENTRYPOINT ") and "tryggheim" in line for line in final)


def test_cloud_image_carries_the_web_assets_make_copies() -> None:
    """The node stage copies exactly the files `make web-assets` copies, into the installed package."""
    makefile = re.sub(r"\\\n\s*", " ", (ROOT / "Makefile").read_text())
    make_copy = next(line for line in makefile.splitlines() if line.strip().startswith("cp node_modules/"))
    wanted = {Path(word).name for word in shlex.split(make_copy) if word.startswith("node_modules/")}
    web, build, _final = _stages(DOCKERFILES["cloud"])
    web_text = " ".join(web)
    assert "npm ci" in web_text
    copied = {Path(word).name for word in shlex.split(web_text) if word.startswith("node_modules/")}
    assert copied == wanted
    assert any(
        line.startswith("COPY --from=web ") and line.endswith("/site-packages/cloud/web/static/vendor")
        for line in build
    )
    # The compiled catalogues are committed next to their sources, so the installed package has them.
    assert (ROOT / "common/locale/nb/LC_MESSAGES/tryggheim.mo").is_file()
    assert "COPY common ./common" in build


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "**", "everything is excluded unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"uv.lock", "pyproject.toml", "package-lock.json", "cloud"} <= allowed
    assert not allowed & {".venv", "deploy", "tests", ".state", "node_modules"}
