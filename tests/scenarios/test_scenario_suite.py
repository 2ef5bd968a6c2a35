"""The detection scenario suite on a reduced seed set (the full report, seeds 100-199, is
`tryggheim bench scenarios`; its figures are in docs/detection.md): ground truth drawn as the sources say,
technique errors that reach the readings, and what the suite shows about weight-only rules and personal
limits."""

from __future__ import annotations

import dataclasses
import json
import statistics
from datetime import timedelta

import pytest

from common.timefmt import OSLO
from device_profiles.sim import HomeSimulator
from device_profiles.sim.scenarios import ClothesOnScale, ColdFinger
from tests.support.proc import run_cli
from tryggheim.bench import scenarios

REDUCED = range(101, 102)  # one seed of each kind keeps `make test` short; the report runs 100


def test_ground_truth_follows_the_cited_parameters() -> None:
    patients = scenarios.cohort(scenarios.TUNING_SEEDS)
    gains = [p.truth["weight_change_kg"] for p in patients if p.kind == "hf_worsening"]
    assert abs(statistics.mean(gains) - 0.9) < 0.5 and abs(statistics.stdev(gains) - 2.1) < 0.4  # Zhang 2009
    assert sum(g < 2.0 for g in gains) > len(gains) / 2  # most worsening carries less than the 2 kg rule
    copd = [p for p in patients if p.kind == "copd_exacerbation"]
    assert all(2 <= p.truth["spo2_drop"] <= 4 and 5 <= p.truth["pulse_rise"] <= 12 for p in copd)
    for p in patients:
        assert (p.onset_day is None) == (p.event_day is None) == p.kind.endswith("stable")
        if p.onset_day is not None and p.event_day is not None:
            assert scenarios.TRIAL_DAYS < p.onset_day < p.event_day < scenarios.SIMULATED_DAYS - 1
    stable = [p for p in patients if p.kind.endswith("stable")]
    assert sum(any(isinstance(s, ClothesOnScale) for s in p.simulator.scenarios) for p in stable) > len(stable) * 0.8
    assert sum(any(isinstance(s, ColdFinger) for s in p.simulator.scenarios) for p in stable) > len(stable) * 0.8


def test_technique_errors_reach_the_readings_and_nothing_else() -> None:
    patient = next(p for p in scenarios.cohort([100]) if p.kind == "hf_stable")
    clean = dataclasses.replace(patient.simulator, scenarios=())
    errors = [s for s in patient.simulator.scenarios if isinstance(s, ClothesOnScale | ColdFinger)]
    disturbed, undisturbed = (_vitals(sim) for sim in (patient.simulator, clean))
    assert disturbed.keys() == undisturbed.keys()
    changed = {key for key in disturbed if disturbed[key] != undisturbed[key]}
    expected_days = {e.on for e in errors}
    assert changed and {key[0].date() for key in changed} <= expected_days
    for key in changed:
        difference = disturbed[key] - undisturbed[key]
        assert (key[1] == "body.weight" and 0.7 <= difference <= 2.1) or (key[1] == "spo2" and -6 <= difference <= -2)


def _vitals(simulator: HomeSimulator) -> dict[tuple[object, str], float]:
    end = scenarios.START + timedelta(days=scenarios.SIMULATED_DAYS)
    return {
        (event.at.astimezone(OSLO), obs.metric): float(obs.value)
        for event in simulator.events(until=end)
        for obs in event.observations
        if obs.metric in {"body.weight", "spo2"}
    }


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[scenarios.ScenarioOutcome]]:
    patients = scenarios.cohort(REDUCED)
    return {variant: [scenarios.run(p, variant) for p in patients] for variant in ("packaged", "personal")}


def test_a_weight_only_rule_misses_worsening_the_protocol_catches(
    outcomes: dict[str, list[scenarios.ScenarioOutcome]],
) -> None:
    caught_without_weight = [
        o
        for o in outcomes["personal"]
        if o.patient.kind == "hf_worsening"
        and o.patient.truth["weight_change_kg"] < 2.0
        and "hf.weight_gain_3d" not in o.alerts
        and any(
            o.patient.onset_day <= day <= o.patient.event_day + scenarios.DETECTION_GRACE_DAYS  # type: ignore[operator]
            for day in o.alerts.get("hf.heart_rate_baseline", [])
        )
    ]
    assert caught_without_weight


def test_personal_limits_do_not_add_false_alerts_on_stable_patients(
    outcomes: dict[str, list[scenarios.ScenarioOutcome]],
) -> None:
    limits = {"hf.spo2", "hf.heart_rate", "hf.systolic", "copd.spo2", "copd.heart_rate"}

    def false_alerts(variant: str) -> int:
        stable = [o for o in outcomes[variant] if o.patient.event_day is None]
        return sum(len(days) for o in stable for rule, days in o.alerts.items() if rule in limits)

    assert false_alerts("personal") < false_alerts("packaged")


def test_the_scores_count_what_the_outcomes_hold(outcomes: dict[str, list[scenarios.ScenarioOutcome]]) -> None:
    report = scenarios.score(outcomes["packaged"])
    assert set(report) == {"heart_failure", "copd"}
    for name, protocol in report.items():
        assert protocol["stable_patients"] == protocol["event_patients"] == len(REDUCED)
        stable = [o for o in outcomes["packaged"] if o.patient.protocol == name and o.patient.event_day is None]
        total = sum(len(scenarios._days(o, "any")) for o in stable)
        assert total == sum(
            len(days) for o in stable for rule, days in o.alerts.items() if rule.startswith(("hf.", "copd."))
        )
        assert protocol["rules"]["any"]["false_alerts"] == total
        episodes = sum(len(o.alerts.get("episode.clinical", [])) for o in stable)
        assert protocol["rules"]["episodes"]["false_alerts"] == episodes <= total
        weeks = len(stable) * scenarios.MONITORED_DAYS / 7
        assert protocol["rules"]["any"]["false_alerts_per_patient_week"] == round(total / weeks, 3)
        for figures in protocol["rules"].values():
            assert 0 <= figures["detected"] <= figures["events"] == len(REDUCED)


@pytest.mark.slow
def test_the_report_command_prints_one_json_line() -> None:
    result = run_cli("bench", "scenarios", "--first-seed", "100", "--seeds", "1", "--processes", "1", timeout=300)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    assert report["seeds"] == [100, 100]
    assert report["personal"]["heart_failure"]["rules"]["hf.heart_rate_baseline"]["events"] == 1
