"""The detection scenario suite: synthetic patients with ground truth, replayed through the protocols.

Each seed yields four patients from the shared home simulator (device_profiles.sim): a stable
heart-failure patient, one whose heart failure worsens, a stable COPD patient and one with an
exacerbation. Stable patients carry realistic day-to-day noise and measurement-technique errors (weighed
dressed, a cold finger on the oximeter). Every patient answers the daily questionnaire (weekly CAT in COPD),
the blood-pressure monitor and oximeter send their status flags, and a share of patients have atrial
fibrillation. Every patient has a 14-day trial period, then four monitored weeks; events start in the
monitored weeks. Each patient is replayed through the clinical rules of its protocol in four variants
(`SETTINGS`): personal limits proposed from the trial period (as if a nurse approved them) with symptoms and
quality flags; the packaged limits; without the questionnaire; and with the quality flags ignored. Rule
triggers and worsening episodes are both counted.

Parameters and their sources (docs/detection.md, "Scenario suite"; the simulator's modules cite theirs):
- heart-failure worsening: weight change over the 14 days before admission drawn from N(0.9, 2.1) kg
  (Zhang 2009, TEN-HMS), so many events carry little or no weight gain, and a pulse rise of 6-14 /min over
  the last 7 days (our assumption: Moazeni 2023 found heart rate the best personalised signal but our notes
  give no magnitude); breathlessness worse in 93 % and swelling in 70 % (Goldberg 2010) over 3-12 days
  (Schiff 2003), magnitudes ours;
- COPD exacerbation: SpO2 down 2-4 points and pulse up 5-12 /min over 5 days before onset (direction from
  Shah 2017; magnitudes are our assumption), lasting 8.8 days (Shah 2017 mean length); symptoms sudden in
  56 %, else over a few days (Aaron 2012), CAT up 2-7 (Mackay 2012: +4.7 on average);
- measurement technique: weighed dressed on 1 morning in 20 (+0.8 to 2.0 kg) and a cold finger on 1
  oximeter reading in 30 (-3 to -6 points) (our assumption; technique caused 54 % of false alerts in
  Radhakrishnan 2013); device flags and the careful new measurement as in device_profiles.sim.status;
- atrial fibrillation in 30 % of heart-failure patients (De Ferrari 2007; Pedersen 2006; Shotan 2010),
  10 % of COPD patients (ours).

Seeds 0-99 are for tuning; seeds 100-199 are the reported figures.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any, Final, Literal

from alerts.episodes import EPISODE_RULE
from alerts.lifecycle import Event, Transition
from alerts.personal import propose
from alerts.protocols.load import apply_overrides, load_protocol
from alerts.protocols.model import Protocol
from alerts.protocols.schema import PatientSettings, RuleOverride
from alerts.replay import ReplayReading, replay
from common.timefmt import OSLO
from device_profiles.quality import IRREGULAR_PULSE_METRIC, doubtful_reasons
from device_profiles.sim import HomeSimulator
from device_profiles.sim.scenarios import (
    ClothesOnScale,
    ColdFinger,
    Scenario,
    SymptomShift,
    VitalShift,
    WeightGain,
)
from device_profiles.sim.status import DeviceStatus
from device_profiles.sim.symptoms import draw_profile

START: Final = datetime(2026, 1, 5, tzinfo=OSLO)  # no DST change within the simulated weeks
TRIAL_DAYS: Final = 14
MONITORED_DAYS: Final = 28
SIMULATED_DAYS: Final = TRIAL_DAYS + MONITORED_DAYS + 2
DETECTION_GRACE_DAYS: Final = 1  # an alert on the day after the event day still counts as detected
VITALS: Final = frozenset({"body.weight", "heart_rate", "spo2", "bp.systolic", "bp.diastolic", IRREGULAR_PULSE_METRIC})
SYMPTOMS: Final = frozenset({"symptom.dyspnoea", "symptom.oedema", "symptom.wellbeing", "cat.score"})
INFORMATION_RULES: Final = frozenset({"rhythm.irregular_pulse"})  # findings for the nurse, not false alerts
NOTIFIED: Final = "episode.notified"  # days the nurse was told of an episode: opened, new evidence or worse
TUNING_SEEDS: Final = range(0, 100)
# Share of patients with atrial fibrillation: about a third in heart failure (De Ferrari 2007, Pedersen 2006,
# Shotan 2010); 10 % in COPD is ours.
AF_SHARE: Final = {False: 0.3, True: 0.1}
REPORT_SEEDS: Final = range(100, 200)

Kind = Literal["hf_stable", "hf_worsening", "copd_stable", "copd_exacerbation"]
Variant = Literal["personal", "packaged", "personal_without_symptoms", "personal_ignoring_quality_flags"]
VARIANTS: Final[tuple[Variant, ...]] = (
    "personal", "packaged", "personal_without_symptoms", "personal_ignoring_quality_flags",
)  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """How a variant replays: approved personal limits or the packaged ones, the patient's questionnaire
    answers or none, and the devices' quality flags heeded or ignored."""

    personal: bool = True
    symptoms: bool = True
    quality: bool = True


SETTINGS: Final[dict[str, Setting]] = {
    "personal": Setting(),
    "packaged": Setting(personal=False),
    "personal_without_symptoms": Setting(symptoms=False),
    "personal_ignoring_quality_flags": Setting(quality=False),
}
PROTOCOL_OF: Final[dict[str, str]] = {
    "hf_stable": "heart_failure",
    "hf_worsening": "heart_failure",
    "copd_stable": "copd",
    "copd_exacerbation": "copd",
}


@dataclass(frozen=True)
class SyntheticPatient:
    """One simulated patient and the ground truth: the day the change starts and the event day."""

    seed: int
    kind: Kind
    simulator: HomeSimulator
    onset_day: int | None = None
    event_day: int | None = None
    truth: dict[str, float] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """The protocol the patient is followed with."""
        return PROTOCOL_OF[self.kind]


def _day(n: int) -> datetime:
    return START + timedelta(days=n)


def _technique_errors(rng: random.Random) -> list[Scenario]:
    errors: list[Scenario] = []
    for n in range(SIMULATED_DAYS):
        on: date = _day(n).date()
        if rng.random() < 1 / 20:
            errors.append(ClothesOnScale(on, round(rng.uniform(0.8, 2.0), 1)))
        for slot in (0, 1):
            if rng.random() < 1 / 30:
                errors.append(ColdFinger(on, round(rng.uniform(3, 6)), slot))
    return errors


def _person(rng: random.Random, copd: bool) -> dict[str, float]:
    if copd:
        return {"pulse": rng.gauss(80, 8), "spo2": min(96.0, max(89.0, rng.gauss(92.5, 1.5))),
                "systolic": rng.gauss(132, 14), "kg": rng.gauss(72, 12)}  # fmt: skip
    return {"pulse": min(90.0, max(55.0, rng.gauss(72, 8))), "spo2": min(97.5, rng.gauss(95.5, 1.0)),
            "systolic": rng.gauss(128, 12), "kg": rng.gauss(80, 12)}  # fmt: skip


def _symptom_worsening(rng: random.Random, kind: Kind, onset: int, event: int) -> SymptomShift:
    """How the questionnaire answers change before the event (sources in device_profiles.sim.symptoms)."""
    if kind == "hf_worsening":
        ramp = rng.uniform(3, 12)  # breathlessness worse for a mean 8.4 days before admission (Schiff 2003)
        dyspnoea = rng.uniform(1.0, 2.5) if rng.random() < 0.93 else 0.0  # 93 % breathless (Goldberg 2010)
        oedema = rng.uniform(0.5, 2.0) if rng.random() < 0.70 else 0.0  # 70 % swollen (Goldberg 2010)
        return SymptomShift(_day(event) - timedelta(days=ramp), ramp, dyspnoea=dyspnoea, oedema=oedema,
                            wellbeing=-rng.uniform(0.5, 1.5))  # fmt: skip
    sudden = rng.random() < 0.56  # 56 % begin on the day, the rest over a median 4 days (Aaron 2012)
    ramp = 0.0 if sudden else rng.uniform(2, 6)
    return SymptomShift(_day(event) - timedelta(days=ramp), ramp, dyspnoea=rng.uniform(1, 2),
                        wellbeing=-rng.uniform(0.5, 1.5), cat=rng.uniform(2, 7), hold_days=8.8)  # fmt: skip


def _patient(seed: int, kind: Kind) -> SyntheticPatient:
    rng = random.Random(f"scenario:{seed}:{kind}")  # noqa: S311 - a simulation, not a secret
    # Symptoms and rhythm draw from their own generator, so the vital signs of a seed stay as they were.
    answers = random.Random(f"scenario:{seed}:{kind}:symptoms")  # noqa: S311
    copd = kind.startswith("copd")
    person = _person(rng, copd)
    scenarios = _technique_errors(rng)
    onset = event = None
    truth: dict[str, float] = {}
    if kind == "hf_worsening":
        onset = rng.randint(24, 28)
        event = onset + 14
        gain, pulse = rng.gauss(0.9, 2.1), rng.uniform(6, 14)
        scenarios += [WeightGain(_day(onset), kg_per_day=gain / 14, days=14),
                      VitalShift(_day(event - 7), ramp_days=7, pulse=pulse)]  # fmt: skip
        truth = {"weight_change_kg": gain, "pulse_rise": pulse}
    elif kind == "copd_exacerbation":
        onset = rng.randint(28, 34)
        event = onset + 5
        drop, pulse = rng.uniform(2, 4), rng.uniform(5, 12)
        scenarios.append(VitalShift(_day(onset), ramp_days=5, spo2=-drop, pulse=pulse, hold_days=8.8))
        truth = {"spo2_drop": drop, "pulse_rise": pulse}
    profile = draw_profile(answers, copd)
    if onset is not None and event is not None:
        scenarios.append(_symptom_worsening(answers, kind, onset, event))
    simulator = HomeSimulator(
        seed=seed * 10 + len(kind), start=START, scenarios=tuple(scenarios), baseline_weight_kg=person["kg"],
        pulse=person["pulse"], spo2=person["spo2"], systolic=person["systolic"], questionnaire=profile,
        status=DeviceStatus(), atrial_fibrillation=answers.random() < AF_SHARE[copd],
    )  # fmt: skip
    return SyntheticPatient(seed, kind, simulator, onset, event, truth)


def cohort(seeds: Iterable[int]) -> list[SyntheticPatient]:
    """Four patients per seed, one of each kind."""
    kinds: tuple[Kind, ...] = ("hf_stable", "hf_worsening", "copd_stable", "copd_exacerbation")
    return [_patient(seed, kind) for seed in seeds for kind in kinds]


def readings(patient: SyntheticPatient, setting: Setting = Setting()) -> list[ReplayReading]:
    """The patient's vital-sign readings (and questionnaire answers, when the setting has them) over the
    simulated weeks, each marked doubtful when its device flagged it and the setting heeds the flags."""
    wanted = VITALS | SYMPTOMS if setting.symptoms else VITALS
    found = []
    for event in patient.simulator.events(until=_day(SIMULATED_DAYS)):
        for obs in event.observations:
            if obs.metric in wanted:
                doubtful = setting.quality and bool(doubtful_reasons(obs.context))
                found.append(
                    ReplayReading(event.at.timestamp(), obs.metric, float(obs.value), event.device.address, doubtful)
                )
    return found


def clinical(protocol: Protocol) -> Protocol:
    """The protocol's clinical rules only (liveness and missed-measurement rules are not scored here)."""
    rules = tuple(rule for rule in protocol.rules if rule.alert_class == "clinical")
    return Protocol(protocol.name, protocol.title, rules, protocol.spo2_scale)


def personal(protocol: Protocol, trial: Sequence[ReplayReading]) -> Protocol:
    """The protocol with the limits proposed from the trial readings applied, as an approved proposal."""
    windows: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for reading in trial:
        windows[reading.metric][0].append(reading.time)
        windows[reading.metric][1].append(reading.value)
    proposals, _ = propose(protocol, windows)
    overrides = tuple(
        RuleOverride(
            rule=p.rule,
            params=p.override_params(),
            reason="scenario suite",
            set_by="scenario",
            review_by=_day(TRIAL_DAYS + 90).date(),
        )
        for p in proposals
    )
    return apply_overrides(protocol, (), PatientSettings(overrides=overrides))


@dataclass(frozen=True)
class ScenarioOutcome:
    """Per rule, the days (since the start) on which an alert was raised or already open when monitoring began."""

    patient: SyntheticPatient
    variant: Variant
    alerts: dict[str, list[int]]


def _notified(transition: Transition) -> bool:
    return transition.rule == EPISODE_RULE and transition.notify


def run(patient: SyntheticPatient, variant: Variant) -> ScenarioOutcome:
    """Replay the patient through its protocol's clinical rules."""
    setting = SETTINGS[variant]
    found = readings(patient, setting)
    protocol = clinical(load_protocol(patient.protocol))
    monitored_from = _day(TRIAL_DAYS).timestamp()
    if setting.personal:
        protocol = personal(protocol, [r for r in found if r.time < monitored_from])
    alerts: dict[str, list[int]] = defaultdict(list)
    open_at_start: dict[str, bool] = {}
    for transition in replay(protocol, found, tick_s=86_400.0 * 365):
        day = int((transition.at - START.timestamp()) // 86_400)
        if transition.at < monitored_from:
            if transition.event == Event.TRIGGERED:
                open_at_start[transition.rule] = True
            elif transition.event == Event.RESOLVED:
                open_at_start[transition.rule] = False
            continue
        if transition.event == Event.TRIGGERED:
            alerts[transition.rule].append(day)
        if _notified(transition):
            alerts[NOTIFIED].append(day)
    for rule, still_open in open_at_start.items():
        if still_open:
            alerts[rule].insert(0, TRIAL_DAYS)  # counts as an alert of the first monitored day
            if rule == EPISODE_RULE:
                alerts[NOTIFIED].insert(0, TRIAL_DAYS)
    return ScenarioOutcome(patient, variant, dict(alerts))


def _rate(count: int, patients: int) -> float:
    return round(count / (patients * MONITORED_DAYS / 7), 3) if patients else 0.0


def score(outcomes: Sequence[ScenarioOutcome]) -> dict[str, Any]:
    """Per protocol and rule: sensitivity, detection delay from onset and lead before the event day, and
    false alerts per stable patient-week; the same for the protocol as a whole."""
    report: dict[str, Any] = {}
    by_protocol: dict[str, list[ScenarioOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_protocol[outcome.patient.protocol].append(outcome)
    for name, group in sorted(by_protocol.items()):
        events = [o for o in group if o.patient.event_day is not None]
        stable = [o for o in group if o.patient.event_day is None]
        rules = sorted({rule.id for rule in clinical(load_protocol(name)).rules})
        per_rule: dict[str, Any] = {}
        for rule in [*rules, "any", "episodes"]:
            delays, leads, false_alerts, over_target = [], [], 0, 0
            for outcome in events:
                assert outcome.patient.onset_day is not None and outcome.patient.event_day is not None
                days = _days(outcome, NOTIFIED if rule == "episodes" else rule)
                hits = [
                    d
                    for d in days
                    if outcome.patient.onset_day <= d <= outcome.patient.event_day + DETECTION_GRACE_DAYS
                ]
                if hits:
                    delays.append(hits[0] - outcome.patient.onset_day)
                    leads.append(outcome.patient.event_day - hits[0])
            for outcome in stable:
                count = len(_days(outcome, EPISODE_RULE if rule == "episodes" else rule))
                false_alerts += count
                over_target += count > 1
            per_rule[rule] = {
                "events": len(events),
                "detected": len(delays),
                "sensitivity": round(len(delays) / len(events), 3) if events else None,
                "median_delay_days": median(delays) if delays else None,
                "median_lead_days": median(leads) if leads else None,
                "false_alerts": false_alerts,
                "false_alerts_per_patient_week": _rate(false_alerts, len(stable)),
                "stable_patients_over_1_per_4_weeks": over_target,
            }
        report[name] = {"stable_patients": len(stable), "event_patients": len(events), "rules": per_rule}
    return report


def _days(outcome: ScenarioOutcome, rule: str) -> list[int]:
    """Days of the rule's alerts; "any" is every rule trigger (the episode and information rules aside)."""
    if rule != "any":
        return outcome.alerts.get(rule, [])
    left_out = {EPISODE_RULE, NOTIFIED, *INFORMATION_RULES}
    return sorted(day for key, days in outcome.alerts.items() if key not in left_out for day in days)


def _run(job: tuple[SyntheticPatient, Variant]) -> ScenarioOutcome:
    return run(*job)


def suite(seeds: Iterable[int], variants: Sequence[Variant] = VARIANTS, processes: int = 1) -> dict[str, Any]:
    """The scored suite for `seeds`, per variant (replays spread over `processes` worker processes)."""
    jobs = [(patient, variant) for variant in variants for patient in cohort(seeds)]
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            outcomes = list(pool.map(_run, jobs, chunksize=8))
    else:
        outcomes = [_run(job) for job in jobs]
    return {variant: score([o for o in outcomes if o.variant == variant]) for variant in variants}
