"""Protocol files: every packaged protocol loads, cites a source, carries liveness; bad files name the field."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from alerts.evaluate import LivenessFacts, PatientState, evaluate_patient
from alerts.protocols import (
    PatientSettings,
    ProtocolError,
    RuleOverride,
    apply_overrides,
    load_protocol,
    protocol_names,
)
from alerts.protocols.load import compile_protocol, parse_file

DOCS = Path(__file__).parents[2] / "docs" / "detection.md"
ANCHORS = set(re.findall(r"\{#([a-z0-9-]+)\}", DOCS.read_text(encoding="utf-8")))
EXPECTED = {"heart_failure", "copd", "hypertension", "diabetes", "general_elderly", "welfare"}

GOOD_RULE = """
  - id: t.weight
    title: Weight up
    class: clinical
    detector: delta
    params: {metric: body.weight, change: 2.0, days: 3}
    severities: {yellow: {}}
    auto_resolve: true
    source: rule-hf-weight
"""


def compile_text(rules: str) -> None:
    parsed = parse_file(f"name: test\ntitle: Test protocol\nrules:{rules}", "test.yaml")
    compile_protocol(parsed, "test.yaml", {})


def test_the_six_protocols_are_packaged() -> None:
    assert set(protocol_names()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_rule_cites_an_existing_section_of_detection_md(name: str) -> None:
    for rule in load_protocol(name).rules:
        assert rule.spec.source in ANCHORS, f"{name}: {rule.id} cites #{rule.spec.source}, not in docs/detection.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_protocol_carries_the_liveness_rules(name: str) -> None:
    ids = {rule.id for rule in load_protocol(name).rules}
    assert {"live.gateway_heartbeat", "live.low_battery", "live.alarm_button_silent"} <= ids


def test_alarm_rules_never_auto_resolve_and_keep_running_during_a_pause() -> None:
    welfare = load_protocol("welfare")
    for rule_id in ("wf.alarm_button", "wf.fall"):
        rule = welfare.rule(rule_id)
        assert rule.alarm and not rule.auto_resolve and rule.during_pause == "keep"


def test_symptom_and_questionnaire_rules_sit_alongside_vitals() -> None:
    assert {"hf.dyspnoea", "hf.oedema"} <= set(load_protocol("heart_failure").by_id())
    assert {"copd.dyspnoea", "copd.cat_change"} <= set(load_protocol("copd").by_id())


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (GOOD_RULE.replace("source: rule-hf-weight", ""), "test.yaml: rules[0].source: Field required"),
        (GOOD_RULE.replace("source: rule-hf-weight", "source: 'Not An Anchor'"), "rules[0].source"),
        (GOOD_RULE.replace("detector: delta", "detector: crystal_ball"), "rules[0].detector: unknown detector"),
        (GOOD_RULE.replace("change: 2.0", "change: lots"), "rules[0].severities.yellow.change"),
        (GOOD_RULE.replace("change: 2.0", "chnage: 2.0"), "rules[0].severities.yellow: unknown parameter 'chnage'"),
        (GOOD_RULE.replace("body.weight", "body.wieght"), "rules[0].params: unknown metric 'body.wieght'"),
        (GOOD_RULE.replace("class: clinical", "class: urgent"), "rules[0].class"),
        (GOOD_RULE.replace("{yellow: {}}", "{}"), "rules[0].severities"),
        (GOOD_RULE + GOOD_RULE, "rules[1].id: 't.weight' appears twice"),
        (
            GOOD_RULE.replace("detector: delta", "detector: event").replace(
                "{metric: body.weight, change: 2.0, days: 3}", "{metric: alarm.button}"
            ),
            "rules[0].auto_resolve: alarm-class events are closed by a person",
        ),
    ],
)
def test_a_bad_rule_fails_naming_file_and_field(rules: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(message)):
        compile_text(rules)


def test_unknown_protocol_and_bad_yaml() -> None:
    with pytest.raises(ProtocolError, match="no such protocol"):
        load_protocol("astrology")
    with pytest.raises(ProtocolError, match=r"test\.yaml: not YAML"):
        parse_file("name: [", "test.yaml")


def override(rule: str, **changes: object) -> RuleOverride:
    fields: dict[str, object] = {"rule": rule, "reason": "stable on diuretics", "set_by": "nurse:42"}
    fields["review_by"] = dt.date(2026, 6, 1)
    return RuleOverride.model_validate({**fields, **changes})


def test_patient_override_changes_parameters_and_is_validated() -> None:
    base = load_protocol("heart_failure")
    changed = apply_overrides(
        base, patient=PatientSettings(overrides=(override("hf.weight_gain_3d", params={"change": 1.5}),))
    )
    assert changed.rule("hf.weight_gain_3d").slots[0][1].change == 1.5
    assert base.rule("hf.weight_gain_3d").slots[0][1].change == 2.0
    muni = apply_overrides(base, municipality=[override("hf.oedema", enabled=False)])
    assert "hf.oedema" not in muni.by_id()
    with pytest.raises(ProtocolError, match=r"patient override\[0\] \(hf.nothing\).rule"):
        apply_overrides(base, patient=PatientSettings(overrides=(override("hf.nothing"),)))
    with pytest.raises(ProtocolError, match="unknown parameter 'kg'"):
        apply_overrides(base, patient=PatientSettings(overrides=(override("hf.weight_gain_3d", params={"kg": 1}),)))
    with pytest.raises(ProtocolError, match="cannot be switched off"):
        apply_overrides(load_protocol("welfare"), municipality=[override("wf.alarm_button", enabled=False)])


def test_an_override_needs_a_reason_and_a_review_date() -> None:
    with pytest.raises(ValidationError, match="reason"):
        override("hf.oedema", reason="")
    with pytest.raises(ValidationError, match="review_by"):
        RuleOverride.model_validate({"rule": "hf.oedema", "reason": "because", "set_by": "n"})
    assert override("hf.oedema").overdue(dt.date(2026, 6, 2))


def test_spo2_scale_2_must_be_prescribed_and_flows_into_news2() -> None:
    with pytest.raises(ValidationError, match="scale 2"):
        PatientSettings(spo2_scale=2)
    scale_2 = PatientSettings(
        spo2_scale=2, spo2_scale_set_by="dr:7", spo2_scale_reason="hypercapnic COPD, target 88-92"
    )
    now = 1_772_000_000.0
    readings = {"spo2": ([now - 60], [89.0])}
    for settings, expected in ((PatientSettings(), "red"), (scale_2, "green")):
        protocol = apply_overrides(load_protocol("general_elderly"), patient=settings)
        result = evaluate_patient(protocol, PatientState(), readings, LivenessFacts(), now, rules=["ge.news2"])
        assert result.levels["ge.news2"].value == expected
