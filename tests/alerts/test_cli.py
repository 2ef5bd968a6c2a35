"""`tryggheim alerts news2`: the acceptance examples of issue 10 and bad arguments."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tryggheim.commands.alerts import app

RUNNER = CliRunner()
BASE = ["news2", "--rr", "18", "--spo2", "96", "--scale", "1", "--air", "--sbp", "120", "--pulse", "80"]
BASE += ["--consciousness", "A", "--temp", "37.1"]


def _run(args: list[str]) -> dict[str, object]:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    parsed: dict[str, object] = json.loads(lines[0])
    assert set(parsed) == {"score", "band", "partial", "missing", "subscores"}
    return parsed


def _with(**changes: str | None) -> list[str]:
    args = list(BASE)
    for name, value in changes.items():
        flag = f"--{name}"
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
        if value is not None:
            args += [flag, value]
    return args


def test_all_normal() -> None:
    out = _run(BASE)
    assert (out["score"], out["band"], out["partial"], out["missing"]) == (0, "low", False, [])


def test_rr_25_is_a_red_score() -> None:
    out = _run(_with(rr="25"))
    assert (out["score"], out["band"]) == (3, "low-medium")


def test_scale_2_on_air() -> None:
    out = _run(_with(scale="2", spo2="97"))
    assert (out["score"], out["band"]) == (0, "low")


def test_scale_2_on_oxygen() -> None:
    args = _with(scale="2", spo2="97")
    args[args.index("--air")] = "--oxygen"
    out = _run(args)
    assert (out["score"], out["band"]) == (5, "medium")


def test_without_rr_and_consciousness() -> None:
    out = _run(_with(rr=None, consciousness=None))
    assert out["partial"] is True
    assert out["missing"] == ["rr", "consciousness"]


def test_lower_case_acvpu_is_accepted() -> None:
    assert _run(_with(consciousness="v"))["score"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_with(spo2="150"), "spo2"),
        (_with(consciousness="X"), "consciousness"),
        ([*BASE, "--oxygen"], "--air and --oxygen"),
        (_with(temp="warm"), "temp"),
        (_with(temp="nan"), "temp"),
        (_with(scale="3"), "scale"),
        (_with(pulse="-5"), "pulse"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
