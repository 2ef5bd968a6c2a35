"""A simulated home: virtual devices from the device catalogue and a deterministic stream of events.

Each day gets its own random generator derived from the seed and the day number, so the stream is the same
on every run and any later part of it can be regenerated without keeping state. Times are whole seconds
(the SIG Date Time field has no fractions), so a payload decodes back to exactly the reading it carries.

Two additions are opt-in per home, so a home without them gives the same stream as before: the daily
questionnaire (`questionnaire`, see `device_profiles.sim.symptoms`) and the devices' status flags (`status`,
see `device_profiles.sim.status`). Each draws from its own generators (seed, day and purpose), so turning
one on leaves every vital-sign draw of the seed as it was; only a flagged reading's value moves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from common.timefmt import OSLO
from device_profiles.device_catalogue import load_devices
from device_profiles.numbers import JSONValue
from device_profiles.observation import Observation
from device_profiles.quality import IRREGULAR_PULSE, IRREGULAR_PULSE_METRIC, doubtful_reasons
from device_profiles.sim import payloads, symptoms
from device_profiles.sim.scenarios import (
    AlarmPress,
    ClothesOnScale,
    ColdFinger,
    GarbagePayload,
    Scenario,
    SymptomShift,
    VitalShift,
    WeightGain,
)
from device_profiles.sim.status import (
    BloodPressureStatus,
    DeviceStatus,
    SpotCheckStatus,
    blood_pressure_status,
    spot_check_status,
)

Role = Literal["scale", "blood_pressure", "oximeter", "door", "motion", "button", "questionnaire"]
# "questionnaire": the answers as the gateway's questionnaire screen records them (JSON), read by no codec.
PayloadKind = Literal["gatt", "bthome", "zigbee2mqtt", "questionnaire"]

# The home a welfare-technology kit typically has, with a catalogue product for each role.
DEFAULT_PROFILES: dict[Role, str] = {
    "scale": "and-uc-352ble",
    "blood_pressure": "and-ua-651ble",
    "oximeter": "nonin-3230",
    "door": "aqara-door-window-mccgq11lm",
    "motion": "aqara-motion-rtcgq11lm",
    "button": "shelly-blu-button1",
}
# The questionnaire is answered on the gateway's own screen; no device catalogue entry describes it yet.
QUESTIONNAIRE_PROFILE = "gateway-questionnaire"


@dataclass(frozen=True, slots=True)
class VirtualDevice:
    """One simulated device: its address as a gateway would see it and its catalogue entry."""

    role: Role
    address: str
    profile_id: str


@dataclass(frozen=True, slots=True)
class Payload:
    """The bytes the device sent: a GATT characteristic value, BTHome service data or an MQTT message."""

    kind: PayloadKind
    data: bytes
    characteristic: int | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One thing a device did. `observations` is empty for a garbage payload (nothing can be read from it)."""

    index: int
    at: datetime
    device: VirtualDevice
    payload: Payload
    observations: tuple[Observation, ...]
    malformed: bool = False


_Maker = Callable[[int, datetime], SimEvent]


def default_devices(seed: int) -> tuple[VirtualDevice, ...]:
    """The six devices of a standard kit, with addresses derived from the seed (stable per home)."""
    rng = random.Random(f"devices:{seed}")  # noqa: S311 - a simulation, not a secret
    catalogue = load_devices()
    devices = []
    for role, profile in DEFAULT_PROFILES.items():
        if profile not in catalogue:
            raise KeyError(f"{profile} is not in the device catalogue")
        if catalogue[profile].transport == "mqtt":
            address = f"sim-{role}-{rng.getrandbits(24):06x}"
        else:
            address = ":".join(f"{rng.getrandbits(8):02X}" for _ in range(6))
        devices.append(VirtualDevice(role, address, profile))
    return tuple(devices)


def questionnaire_device(seed: int) -> VirtualDevice:
    """The questionnaire screen of the home with this seed (its own generator: the kit's addresses stay)."""
    rng = random.Random(f"devices:{seed}:questionnaire")  # noqa: S311 - a simulation, not a secret
    return VirtualDevice("questionnaire", f"sim-questionnaire-{rng.getrandbits(24):06x}", QUESTIONNAIRE_PROFILE)


@dataclass(frozen=True)
class HomeSimulator:
    """The event stream of one home from `start` (a timezone-aware moment) on.

    The person's own normal (weight, mean pulse, SpO2 and blood pressure) is set per home; day-to-day
    variation is drawn around it, and scenarios move it or disturb single measurements. `questionnaire`
    turns on the daily questionnaire with the person's symptom normals; `status` makes the blood-pressure
    monitor and oximeter send their status fields with flags at the given rates, and `atrial_fibrillation`
    says whether the person's pulse is irregular (flagged at the rate for atrial fibrillation).
    """

    seed: int
    start: datetime
    devices: tuple[VirtualDevice, ...] = ()
    scenarios: tuple[Scenario, ...] = field(default=())
    baseline_weight_kg: float = 78.0
    pulse: float = 70.0
    spo2: float = 96.0
    systolic: float = 132.0
    diastolic: float = 80.0
    questionnaire: symptoms.SymptomProfile | None = None
    status: DeviceStatus | None = None
    atrial_fibrillation: bool = False

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if not self.devices:
            object.__setattr__(self, "devices", default_devices(self.seed))
        if self.questionnaire is not None and all(d.role != "questionnaire" for d in self.devices):
            object.__setattr__(self, "devices", (*self.devices, questionnaire_device(self.seed)))

    def device(self, role: Role) -> VirtualDevice:
        """The device playing `role`."""
        return next(d for d in self.devices if d.role == role)

    def events(self, until: datetime | None = None) -> Iterator[SimEvent]:
        """Events in time order from `start`, numbered from 0, up to (not including) `until` if given."""
        index = 0
        first_day = self.start.astimezone(OSLO).replace(hour=0, minute=0, second=0, microsecond=0)
        day = 0
        while True:
            midnight = (first_day + timedelta(days=day)).replace(tzinfo=OSLO)
            for at, make in sorted(self._day(day, midnight), key=lambda item: item[0]):
                if at < self.start:
                    continue
                if until is not None and at >= until:
                    return
                yield make(index, at)
                index += 1
            day += 1

    def _day(self, day: int, midnight: datetime) -> list[tuple[datetime, _Maker]]:
        rng = random.Random(f"{self.seed}:{day}")  # noqa: S311 - a simulation, not a secret

        def at(hour: float, spread_min: float) -> datetime:
            moment = midnight + timedelta(hours=hour, minutes=rng.uniform(-spread_min, spread_min))
            return moment.replace(microsecond=0)

        items: list[tuple[datetime, _Maker]] = []
        weighed = at(7.5, 15)
        kg = self._kg(weighed) + self._clothes(weighed)
        items.append((weighed, self._weight(round(kg + rng.gauss(0, 0.3), 1))))
        for slot, hour in enumerate((8.0, 20.0)):
            # Shifts are taken at the nominal hour so that the random draws keep their order (and a seed its stream).
            pulse_shift, spo2_shift, systolic_shift = self._shift(midnight + timedelta(hours=hour))
            sys_ = round(rng.gauss(self.systolic + systolic_shift, 8))
            dia, pulse = round(rng.gauss(self.diastolic, 6)), round(rng.gauss(self.pulse + pulse_shift, 6))
            bp_at, bp_status = at(hour, 20), self._bp_status(day, slot)
            items.append((bp_at, self._bp(sys_, dia, pulse, bp_status)))
            items += self._bp_again(day, slot, bp_at, bp_status, (pulse_shift, systolic_shift))
            cold = self._cold(midnight, slot)
            spo2 = min(100, round(rng.gauss(self.spo2 + spo2_shift, 1.2) - cold))
            spot_status = self._spot_status(day, slot, cold > 0)
            spot_at = at(hour + 0.25, 10)
            items.append((spot_at, self._spot(spo2, round(rng.gauss(self.pulse + 2 + pulse_shift, 6)), spot_status)))
            items += self._spot_again(day, slot, spot_at, spot_status, (pulse_shift, spo2_shift))
        # A device never reports twice in one second (a motion sensor has a cool-down, a door takes time to
        # close), which also keeps the cloud's same-device-same-time de-duplication out of the way.
        for slot in rng.sample(range(7 * 6, 22 * 6), rng.randint(3, 6)):  # ten-minute slots, 07:00-22:00
            opened = midnight + timedelta(seconds=slot * 600 + rng.randint(0, 200))
            items.append((opened, self._door(True)))
            items.append((opened + timedelta(seconds=rng.randint(20, 300)), self._door(False)))
        for second in rng.sample(range(int(6.5 * 3600), 23 * 3600), rng.randint(30, 50)):
            items.append((midnight + timedelta(seconds=second), self._motion()))
        for scenario in self.scenarios:
            if isinstance(scenario, AlarmPress) and midnight <= scenario.at < midnight + timedelta(days=1):
                items.append((scenario.at.replace(microsecond=0), self._press(rng.randint(60, 100))))
            if isinstance(scenario, GarbagePayload) and midnight <= scenario.at < midnight + timedelta(days=1):
                items.append((scenario.at.replace(microsecond=0), self._garbage(scenario.data)))
        return items + self._answers(day, midnight)

    def _bp_status(self, day: int, slot: int) -> BloodPressureStatus | None:
        if self.status is None:
            return None
        rng = random.Random(f"{self.seed}:{day}:{slot}:bp-status")  # noqa: S311 - a simulation, not a secret
        return blood_pressure_status(self.status, rng, self.atrial_fibrillation)

    def _again(self, day: int, slot: int, device: str, context: dict[str, JSONValue]) -> random.Random | None:
        """The generator of a new measurement when the reading was doubtful and the person measures again."""
        if self.status is None or not doubtful_reasons(context):
            return None
        rng = random.Random(f"{self.seed}:{day}:{slot}:{device}-again")  # noqa: S311 - a simulation, not a secret
        return rng if rng.random() < self.status.remeasure else None

    def _bp_again(
        self, day: int, slot: int, first: datetime, status: BloodPressureStatus | None, shift: tuple[float, float]
    ) -> list[tuple[datetime, _Maker]]:
        """A careful new blood-pressure measurement a few minutes after a doubtful one, if the person takes it."""
        rng = None if status is None else self._again(day, slot, "bp", status.context())
        if rng is None or status is None:
            return []
        when = (first + timedelta(minutes=rng.uniform(3, 10))).replace(microsecond=0)
        pulse, systolic = round(rng.gauss(self.pulse + shift[0], 6)), round(rng.gauss(self.systolic + shift[1], 8))
        careful = BloodPressureStatus((IRREGULAR_PULSE,) if status.irregular else ())
        return [(when, self._bp(systolic, round(rng.gauss(self.diastolic, 6)), pulse, careful))]

    def _spot_again(
        self, day: int, slot: int, first: datetime, status: SpotCheckStatus | None, shift: tuple[float, float]
    ) -> list[tuple[datetime, _Maker]]:
        """A new oximeter reading on a warmed, still finger a few minutes after a doubtful one, if taken."""
        rng = None if status is None else self._again(day, slot, "spot", status.context())
        if rng is None:
            return []
        when = (first + timedelta(minutes=rng.uniform(3, 10))).replace(microsecond=0)
        spo2 = min(100, round(rng.gauss(self.spo2 + shift[1], 1.2)))
        return [(when, self._spot(spo2, round(rng.gauss(self.pulse + 2 + shift[0], 6)), SpotCheckStatus(())))]

    def _spot_status(self, day: int, slot: int, cold_finger: bool) -> SpotCheckStatus | None:
        if self.status is None:
            return None
        rng = random.Random(f"{self.seed}:{day}:{slot}:spot-status")  # noqa: S311 - a simulation, not a secret
        return spot_check_status(self.status, rng, cold_finger)

    def _answers(self, day: int, midnight: datetime) -> list[tuple[datetime, _Maker]]:
        """The day's questionnaire, if the home has one and it was answered."""
        profile = self.questionnaire
        if profile is None:
            return []
        rng = random.Random(f"{self.seed}:{day}:symptoms")  # noqa: S311 - a simulation, not a secret
        nominal = midnight + timedelta(hours=profile.hour)
        answers = symptoms.answer(profile, rng, self._symptom_shift(nominal), midnight.weekday() == profile.cat_weekday)
        if answers is None:
            return []
        return [
            ((nominal + timedelta(minutes=rng.uniform(-45, 45))).replace(microsecond=0), self._questionnaire(answers))
        ]

    def _kg(self, moment: datetime) -> float:
        gain = 0.0
        for scenario in self.scenarios:
            if isinstance(scenario, WeightGain) and moment > scenario.start:
                days = min((moment - scenario.start).total_seconds() / 86400, scenario.days)
                gain += days * scenario.kg_per_day
        return self.baseline_weight_kg + gain

    def _shift(self, moment: datetime) -> tuple[float, float, float]:
        """Pulse, SpO2 and systolic shifts of the VitalShift scenarios at `moment`."""
        pulse = spo2 = systolic = 0.0
        for scenario in self.scenarios:
            if isinstance(scenario, VitalShift):
                share = scenario.fraction(moment)
                pulse, spo2 = pulse + share * scenario.pulse, spo2 + share * scenario.spo2
                systolic += share * scenario.systolic
        return pulse, spo2, systolic

    def _symptom_shift(self, moment: datetime) -> dict[str, float]:
        """How far the SymptomShift scenarios move each answer at `moment`."""
        moved = dict.fromkeys(("dyspnoea", "oedema", "wellbeing", "cat"), 0.0)
        for scenario in self.scenarios:
            if isinstance(scenario, SymptomShift):
                share = scenario.fraction(moment)
                for name in moved:
                    moved[name] += share * getattr(scenario, name)
        return moved

    def _clothes(self, moment: datetime) -> float:
        today = moment.astimezone(OSLO).date()
        return sum(s.kg for s in self.scenarios if isinstance(s, ClothesOnScale) and s.on == today)

    def _cold(self, moment: datetime, slot: int) -> float:
        today = moment.astimezone(OSLO).date()
        return sum(s.drop for s in self.scenarios if isinstance(s, ColdFinger) and s.on == today and s.slot == slot)

    def _observation(self, device: VirtualDevice, at: datetime, metric: str, value: float | str, unit: str,
                     **context: object) -> Observation:  # fmt: skip
        return Observation(device.address, metric, value, unit, at, at, context)

    def _weight(self, kg: float) -> _Maker:
        device = self.device("scale")

        def make(index: int, at: datetime) -> SimEvent:
            data = payloads.weight(kg, at, OSLO)
            obs = (self._observation(device, at, "body.weight", kg, "kg"),)
            return SimEvent(index, at, device, Payload("gatt", data, characteristic=0x2A9D), obs)

        return make

    def _bp(self, systolic: int, diastolic: int, pulse: int, flagged: BloodPressureStatus | None) -> _Maker:
        device = self.device("blood_pressure")
        raw = None if flagged is None else flagged.raw
        context = {} if flagged is None else flagged.context()
        if flagged is not None:
            systolic, diastolic = systolic + flagged.systolic_error, diastolic + flagged.diastolic_error

        def make(index: int, at: datetime) -> SimEvent:
            data = payloads.blood_pressure(systolic, diastolic, pulse, at, OSLO, raw)
            mean = round(diastolic + (systolic - diastolic) / 3)
            values = [("bp.systolic", systolic, "mm[Hg]"), ("bp.diastolic", diastolic, "mm[Hg]"),
                      ("bp.mean", mean, "mm[Hg]"), ("heart_rate", pulse, "/min")]  # fmt: skip
            if flagged is not None:  # the decoder reports the irregular-pulse bit whenever the field is sent
                values.append((IRREGULAR_PULSE_METRIC, int(flagged.irregular), "1"))
            obs = tuple(self._observation(device, at, m, v, u, **context) for m, v, u in values)
            return SimEvent(index, at, device, Payload("gatt", data, characteristic=0x2A35), obs)

        return make

    def _spot(self, spo2: int, pulse: int, flagged: SpotCheckStatus | None) -> _Maker:
        device = self.device("oximeter")
        fields = None if flagged is None else (flagged.measurement_raw, flagged.sensor_raw)
        context = {} if flagged is None else flagged.context()
        spo2 -= 0 if flagged is None else flagged.spo2_error

        def make(index: int, at: datetime) -> SimEvent:
            data = payloads.spot_check(spo2, pulse, at, OSLO, fields)
            obs = (self._observation(device, at, "spo2", spo2, "%", **context),
                   self._observation(device, at, "heart_rate", pulse, "/min", **context))  # fmt: skip
            return SimEvent(index, at, device, Payload("gatt", data, characteristic=0x2A5E), obs)

        return make

    def _questionnaire(self, answers: symptoms.Answers) -> _Maker:
        device = self.device("questionnaire")

        def make(index: int, at: datetime) -> SimEvent:
            scores = [("symptom.dyspnoea", answers.dyspnoea), ("symptom.oedema", answers.oedema),
                      ("symptom.wellbeing", answers.wellbeing)]  # fmt: skip
            obs = [self._observation(device, at, metric, value, symptoms.UNIT) for metric, value in scores]
            if answers.cat is not None and answers.cat_items is not None:
                items = list(answers.cat_items)
                obs.append(self._observation(device, at, "cat.score", answers.cat, symptoms.UNIT,
                                             **{symptoms.ITEMS_KEY: items}))  # fmt: skip
            return SimEvent(index, at, device, Payload("questionnaire", answers.payload()), tuple(obs))

        return make

    def _door(self, opened: bool) -> _Maker:
        device = self.device("door")

        def make(index: int, at: datetime) -> SimEvent:
            # zigbee2mqtt's `contact` is true when the magnet is near, i.e. the door is closed.
            data = payloads.zigbee2mqtt({"contact": not opened, "battery": 91, "linkquality": 120})
            obs = (self._observation(device, at, "door.open", 1 if opened else 0, "1"),)
            return SimEvent(index, at, device, Payload("zigbee2mqtt", data, topic=f"zigbee2mqtt/{device.address}"), obs)

        return make

    def _motion(self) -> _Maker:
        device = self.device("motion")

        def make(index: int, at: datetime) -> SimEvent:
            data = payloads.zigbee2mqtt({"occupancy": True, "battery": 88, "linkquality": 96})
            obs = (self._observation(device, at, "motion", 1, "1"),)
            return SimEvent(index, at, device, Payload("zigbee2mqtt", data, topic=f"zigbee2mqtt/{device.address}"), obs)

        return make

    def _press(self, packet_id: int) -> _Maker:
        device = self.device("button")

        def make(index: int, at: datetime) -> SimEvent:
            data = payloads.bthome_button(packet_id, battery=97)
            obs = (self._observation(device, at, "alarm.button", 1, "1"),)
            return SimEvent(index, at, device, Payload("bthome", data), obs)

        return make

    def _garbage(self, data: bytes) -> _Maker:
        device = self.device("scale")

        def make(index: int, at: datetime) -> SimEvent:
            return SimEvent(index, at, device, Payload("gatt", data, characteristic=0x2A9D), (), malformed=True)

        return make
