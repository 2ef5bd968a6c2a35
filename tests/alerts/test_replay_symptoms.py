"""`tryggheim alerts replay` takes questionnaire answers like any catalogue metric: daily symptom scores reach
the heart-failure symptom rules and a weekly CAT the COPD CAT rule, with their documented severities."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tryggheim.commands.alerts import app

RUNNER = CliRunner()
HEART_FAILURE = """measured_at,metric,value,unit,device
2026-03-02T10:00:00,symptom.dyspnoea,1,{score},screen
2026-03-02T10:00:00,symptom.oedema,0,{score},screen
2026-03-02T10:00:00,symptom.wellbeing,3,{score},screen
2026-03-03T10:00:00,symptom.dyspnoea,1,{score},screen
2026-03-04T10:00:00,symptom.dyspnoea,3,{score},screen
2026-03-04T10:00:00,symptom.oedema,2,{score},screen
2026-03-05T10:00:00,symptom.dyspnoea,3,{score},screen
2026-03-06T10:00:00,symptom.dyspnoea,1,{score},screen
2026-03-06T10:00:00,symptom.oedema,0,{score},screen
"""
COPD = """measured_at,metric,value,unit
2026-03-02T10:00:00,cat.score,15,{score}
2026-03-09T10:00:00,cat.score,16,{score}
2026-03-16T10:00:00,cat.score,21,{score}
"""


def _clinical(protocol: str, csv_text: str, tmp_path: Path) -> list[tuple[str, str, str, str]]:
    data = tmp_path / f"{protocol}.csv"
    data.write_text(csv_text)
    result = RUNNER.invoke(app, ["replay", "--protocol", protocol, "--input", str(data)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [(x["event"], x["rule"], x["severity"], x["at"][:10]) for x in lines if x["class"] == "clinical"]


def test_daily_symptom_answers_replay_through_the_heart_failure_rules(tmp_path: Path) -> None:
    assert _clinical("heart_failure", HEART_FAILURE, tmp_path) == [
        ("triggered", "hf.dyspnoea", "red", "2026-03-04"),  # breathlessness 3-4 is red
        ("triggered", "hf.oedema", "yellow", "2026-03-04"),  # swelling 2 or more is yellow
        ("resolved", "hf.dyspnoea", "red", "2026-03-06"),
        ("resolved", "hf.oedema", "yellow", "2026-03-06"),
    ]


def test_a_weekly_cat_replays_through_the_copd_cat_rule(tmp_path: Path) -> None:
    # 21 against the lowest CAT of the 14 days before (15): up 6, more than 4 points, so red.
    assert _clinical("copd", COPD, tmp_path) == [("triggered", "copd.cat_change", "red", "2026-03-16")]
