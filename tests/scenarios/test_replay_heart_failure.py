"""`tryggheim alerts replay` on the committed heart-failure scenario, and bad input.

hf_weight_gain.csv: 21 mornings of weights around 82.4 kg (noise SD 0.25 kg, seed 2), then a gain of
0.8, 0.9 and 0.8 kg on three mornings (measured change over 3 days: 0.7, 1.5, 2.4 kg), with a morning pulse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tryggheim.commands.alerts import app

DATA = Path(__file__).parent / "data"
RUNNER = CliRunner()


def replay_lines(*args: str) -> list[dict[str, str]]:
    """Run the replay command and parse its JSON lines."""
    result = RUNNER.invoke(app, ["replay", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_weight_rule_triggers_on_the_day_the_3_day_gain_passes_2_kg() -> None:
    lines = replay_lines("--protocol", "heart_failure", "--input", str(DATA / "hf_weight_gain.csv"))
    weight = [line for line in lines if line["rule"] == "hf.weight_gain_3d"]
    assert [line["event"] for line in weight] == ["evidence"]  # the rule's trigger is the episode's evidence
    assert weight[0]["at"].startswith("2026-03-25T07:30")
    assert (weight[0]["class"], weight[0]["severity"]) == ("clinical", "yellow")
    assert "+2.4" in weight[0]["message"]
    assert set(weight[0]) == {"event", "rule", "class", "severity", "at", "message"}
    [episode] = [line for line in lines if line["rule"] == "episode.clinical"]
    assert (episode["event"], episode["class"], episode["at"]) == ("triggered", "clinical", weight[0]["at"])
    assert episode["members"] == ["hf.weight_gain_3d"]


def test_every_printed_line_has_the_contract_fields() -> None:
    lines = replay_lines("--protocol", "heart_failure", "--input", str(DATA / "hf_weight_gain.csv"))
    for line in lines:
        assert line["event"] in {"triggered", "severity_changed", "resolved", "evidence", "evidence_added"}
        assert line["class"] in {"clinical", "liveness", "data_quality"}
        assert line["severity"] in {"yellow", "red"}


@pytest.mark.parametrize(
    ("protocol", "csv", "message"),
    [
        ("heart_failure", "measured_at,metric,value\n", "missing column"),
        (
            "heart_failure",
            "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,body.wieght,80,kg\n",
            "unknown metric",
        ),
        (
            "heart_failure",
            "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,body.weight,heavy,kg\n",
            "not a number",
        ),
        ("heart_failure", "measured_at,metric,value,unit\nyesterday,body.weight,80,kg\n", "ISO-8601"),
        ("heart_failure", "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,body.weight,80,mm[Hg]\n", "convert"),
        ("heart_failure", "measured_at,metric,value,unit\n", "no readings"),
        (
            "heart_failure",
            "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,symptom.dyspnoea,7,{score}\n",
            "outside its range 0-4",
        ),
        (
            "heart_failure",
            "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,symptom.oedema,2.5,{score}\n",
            "not a whole answer",
        ),
        (
            "heart_failure",
            "measured_at,metric,value,unit,doubtful\n2026-03-01T07:00+01:00,spo2,93,%,maybe\n",
            "doubtful 'maybe'",
        ),
        ("heart_fail", "measured_at,metric,value,unit\n2026-03-01T07:00+01:00,body.weight,80,kg\n", "no such protocol"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, protocol: str, csv: str, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(csv)
    result = RUNNER.invoke(app, ["replay", "--protocol", protocol, "--input", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["replay", "--protocol", "welfare", "--input", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
