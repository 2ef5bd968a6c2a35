"""`tryggheim alerts replay` takes questionnaire answers like any catalogue metric: daily symptom scores reach
the heart-failure symptom rules and a weekly CAT the COPD CAT rule, with their documented severities, as the
evidence of a worsening episode; an answer outside its scale is refused."""

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
2026-03-05T10:00:00,symptom.oedema,2,{score},screen
2026-03-06T10:00:00,symptom.dyspnoea,1,{score},screen
2026-03-06T10:00:00,symptom.oedema,0,{score},screen
2026-03-07T10:00:00,symptom.dyspnoea,1,{score},screen
2026-03-07T10:00:00,symptom.oedema,0,{score},screen
"""
COPD = """measured_at,metric,value,unit
2026-02-23T10:00:00,cat.score,15,{score}
2026-03-02T10:00:00,cat.score,16,{score}
2026-03-09T10:00:00,cat.score,15,{score}
2026-03-16T10:00:00,cat.score,21,{score}
"""


def _replay(protocol: str, csv_text: str, tmp_path: Path) -> list[dict[str, str]]:
    data = tmp_path / f"{protocol}.csv"
    data.write_text(csv_text)
    result = RUNNER.invoke(app, ["replay", "--protocol", protocol, "--input", str(data)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _of(lines: list[dict[str, str]], event: str) -> list[tuple[str, str, str]]:
    return [(x["rule"], x["severity"], x["at"][:10]) for x in lines if x["event"] == event and x["class"] == "clinical"]


def test_daily_symptom_answers_replay_through_the_heart_failure_rules(tmp_path: Path) -> None:
    lines = _replay("heart_failure", HEART_FAILURE, tmp_path)
    # Breathlessness 3-4 is red at once; swelling of 2 or more is yellow once a second answer within three days
    # confirms it (2 of the last 3): one bad day is not an alert.
    assert _of(lines, "evidence") == [("hf.dyspnoea", "red", "2026-03-04"), ("hf.oedema", "yellow", "2026-03-05")]
    assert _of(lines, "triggered") == [("episode.clinical", "red", "2026-03-04")]
    assert _of(lines, "resolved") == [("hf.dyspnoea", "red", "2026-03-07"), ("hf.oedema", "yellow", "2026-03-07")]


def test_a_weekly_cat_replays_through_the_copd_cat_rule(tmp_path: Path) -> None:
    # 21 against the person's median CAT of the 28 days before (15): up 6, more than 4 points (yellow), not more
    # than 8 (red).
    assert _of(_replay("copd", COPD, tmp_path), "evidence") == [("copd.cat_change", "yellow", "2026-03-16")]


def test_an_answer_outside_its_scale_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("measured_at,metric,value,unit\n2026-03-02T10:00:00,symptom.dyspnoea,7,{score}\n")
    result = RUNNER.invoke(app, ["replay", "--protocol", "heart_failure", "--input", str(data)])
    assert result.exit_code == 2 and "symptom.dyspnoea '7' is outside its range 0-4" in result.output
