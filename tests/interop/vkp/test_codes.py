"""The VKP mapping is data checked at load: every detector journals somewhere or is said not to, the shipped
rules map to the documents the DHO guide defines, and the trygghetsalarm ambiguity stays flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.protocols.load import load_protocol, protocol_names
from cloud.interop.vkp.codes import MAPPING_FILE, document_name, load, mapping, severity_level


def _shipped_rules():
    seen = {}
    for name in protocol_names():
        for rule in load_protocol(name).rules:
            seen[rule.id] = rule
    return seen.values()


def test_every_shipped_rule_maps_and_only_liveness_is_left_out() -> None:
    table = mapping()
    for rule in _shipped_rules():
        name = document_name(
            table, rule=rule.id, detector=rule.spec.detector, metrics=rule.metrics, alert_class=rule.alert_class
        )
        detector_says = table.detectors[rule.spec.detector]
        assert (name is None) == (rule.alert_class == "liveness"), rule.id
        assert (detector_says is None) == (rule.alert_class == "liveness"), rule.id


@pytest.mark.parametrize(
    ("rule", "detector", "metrics", "code"),
    [
        ("hf.weight_gain_3d", "delta", ("body.weight",), "5.2.1"),
        ("hf.missed_weight", "planned_measurement", ("body.weight",), "5.3.2"),
        ("hf.dyspnoea", "threshold", ("symptom.dyspnoea",), "5.2.2"),
        ("copd.cat_change", "above_baseline", ("cat.score",), "5.2.2"),
        ("wf.alarm_button", "event", ("alarm.button",), "3"),
        ("wf.fall", "event", ("fall.detected",), "4.1"),
        ("wf.door_at_night", "event", ("door.open",), "4.15"),
        ("wf.bed_not_back", "bed_not_back", ("bed.occupied",), "4.2"),
        ("wf.no_activity", "no_activity", ("motion",), "4.9"),
        ("rhythm.irregular_pulse", "event", ("pulse.irregular",), "5.2.1"),
        ("episode.clinical", None, (), "5.1"),
        ("gone.from.protocol", None, (), "5.1"),
    ],
)
def test_vkp_codes_of_the_dho_guide(rule: str, detector: str | None, metrics: tuple[str, ...], code: str) -> None:
    table = mapping()
    name = document_name(table, rule=rule, detector=detector, metrics=metrics, alert_class="clinical")
    assert name is not None
    assert table.documents[name].code == code


def test_platform_alerts_and_equipment_are_not_journaled() -> None:
    table = mapping()
    assert (
        document_name(table, rule="notify.delivery_failed", detector=None, metrics=(), alert_class="data_quality")
        is None
    )
    assert (
        document_name(table, rule="live.low_battery", detector="low_battery", metrics=(), alert_class="liveness")
        is None
    )


def test_trygghetsalarm_code_is_flagged_unverified() -> None:
    alarm = mapping().documents["safety_alarm"]
    assert alarm.code == "3"
    assert alarm.unverified is not None and "7" in alarm.unverified
    assert alarm.service_code == "ta"


def test_severity_levels() -> None:
    table = mapping()
    assert severity_level(table, severity="yellow", alarm=False) == 20
    assert severity_level(table, severity="red", alarm=False) == 30
    assert severity_level(table, severity="red", alarm=True) == 40


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("  zscore: measurement\n", ""), "detectors without a VKP document: zscore"),
        (
            ("  threshold: measurement\n", "  threshold: measurement\n  wavelet: measurement\n"),
            "does not know: wavelet",
        ),
        (('    code: "5.2.1"', '    code: "9.9"'), "code"),
        (("  red: 30", "  red: 35"), "severity levels"),
        (("  news2: measurement", "  news2: telepathy"), "not defined: telepathy"),
    ],
)
def test_a_broken_mapping_fails_at_load(change: tuple[str, str], complaint: str) -> None:
    text = MAPPING_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(ValueError, match=complaint):
        load(text.replace(change[0], change[1], 1))


def test_the_interop_guide_tells_every_document_of_the_mapping() -> None:
    guide = (Path(__file__).resolve().parents[3] / "docs" / "interop.md").read_text(encoding="utf-8")
    for document in mapping().documents.values():
        row = f"| {document.display} | {document.code} | {document.service_code} |"
        assert row in guide, f"docs/interop.md lacks the row ending {row}"
