"""Service hours, rota and routing as pure functions: each event class reaches the right recipient at 02:30 on
both DST-change nights of 2026, on 17 May, on 24 December and on an ordinary Tuesday at 10:00 and 22:00;
next_opening is open and nothing before it is (hypothesis); bad documents are refused with clear words."""

from __future__ import annotations

from datetime import date, datetime, time

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.escalation import PolicyError, default_policies, select
from alerts.escalation.hours import OSLO, TeamHours, is_open, next_opening
from alerts.escalation.routing import Route, retarget, route
from alerts.escalation.service import ServiceSettings, on_duty, parse_service

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
DAY = [{"opens": "08:00", "closes": "15:30"}]
HOLIDAYS = frozenset(holidays.country_holidays("NO", years=[2026, 2027], include_sundays=False))


def _settings(out_of_hours: str = "legevakt") -> ServiceSettings:
    return parse_service({
        "teams": [{"team": "Nord", "weekly": dict.fromkeys(WEEKDAYS, DAY), "overrides": [
            {"first": "2026-12-24", "last": "2026-12-24", "hours": [], "note": "julaften"},
        ]}],
        "rota": [{"team": "Nord", "role": "nurse", "weekday": d, "starts": "08:00", "ends": "15:30",
                  "staff": ["Kari"]} for d in WEEKDAYS],
        "required_roles": ["nurse"], "out_of_hours": out_of_hours,
    })  # fmt: skip


def _t(text: str, fold: int = 0) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO, fold=fold).timestamp()


def _route(at: float, event_class: str, severity: str, detector: str | None = None) -> Route:
    return route(_settings(), HOLIDAYS, event_class=event_class, severity=severity, detector=detector, team="Nord",
                 t=at)  # fmt: skip


CLASSES = [("alarm", "red", None), ("clinical", "red", "event"), ("clinical", "yellow", "event"),
           ("clinical", "red", None), ("clinical", "yellow", None), ("data_quality", "yellow", None),
           ("liveness", "red", None)]  # fmt: skip
WED_0800 = _t("2026-12-02T08:00")
AFTER_EASTER, AFTER_17_MAY, AFTER_XMAS = _t("2026-03-30T08:00"), _t("2026-05-18T08:00"), _t("2026-12-28T08:00")
# (instant, [who each of CLASSES reaches], when the waiting ones are delivered)
CASES = {
    "spring DST night 02:30 (does not exist: 03:30 CEST)": (_t("2026-03-29T02:30"), AFTER_EASTER),
    "autumn DST night 02:30, first": (_t("2026-10-25T02:30", fold=0), _t("2026-10-26T08:00")),
    "autumn DST night 02:30, second": (_t("2026-10-25T02:30", fold=1), _t("2026-10-26T08:00")),
    "17 May (Thursday)": (_t("2026-05-17T10:00"), AFTER_17_MAY),
    "24 December (override: closed)": (_t("2026-12-24T10:00"), AFTER_XMAS),
    "Tuesday 22:00": (_t("2026-12-01T22:00"), WED_0800),
}


@pytest.mark.parametrize("name", list(CASES))
def test_outside_hours_each_class_reaches_its_recipient(name: str) -> None:
    at, opening = CASES[name]
    got = [_route(at, *c) for c in CLASSES]
    assert [r.recipient for r in got] == ["response_centre", "response_centre", "response_centre", "legevakt",
                                          "care_team", "care_team", "care_team"]  # fmt: skip
    assert [r.deliver_at for r in got] == [None, None, None, None, opening, opening, opening]
    assert got[3].why.startswith("outside service hours (") and got[3].why.endswith("out-of-hours service legevakt")
    assert got[4].staff == ("Kari",)  # who is on duty at the opening, from the rota


def test_tuesday_at_ten_goes_to_the_on_duty_team_and_wording() -> None:
    at = _t("2026-12-01T10:00")
    got = [_route(at, *c) for c in CLASSES]
    assert [r.recipient for r in got][3:] == ["care_team"] * 4 and all(r.deliver_at is None for r in got)
    assert got[3].why == "in service hours (Tuesday 10:00): on-duty team Nord" and got[3].staff == ("Kari",)
    late = _route(_t("2026-12-01T22:00"), "clinical", "red")
    assert late.why == "outside service hours (Tuesday 22:00): out-of-hours service legevakt"
    centre = route(_settings("response_centre"), HOLIDAYS, event_class="clinical", severity="red", detector=None,
                   team="Nord", t=_t("2026-12-01T22:00"))  # fmt: skip
    assert centre.recipient == "response_centre"


def test_out_of_hours_route_retargets_the_external_steps() -> None:
    red = select(default_policies().policies, "clinical", "red")
    changed = retarget(red, _route(_t("2026-12-01T22:00"), "clinical", "red"))
    assert [(s.after_minutes, s.target) for s in changed.steps] == [(0, "care_team"), (0.5, "legevakt"),
                                                                    (120, "legevakt")]  # fmt: skip
    assert retarget(red, _route(_t("2026-12-01T10:00"), "clinical", "red")) == red


def test_dst_nights_have_the_hours_the_clock_says() -> None:
    night = TeamHours.model_validate({"team": "natt", "weekly": {"sunday": [{"opens": "00:00", "closes": "06:00"}]}})
    # Spring: 00:00-06:00 lasts 5 hours; 02:30 is read as 03:30 summer time (fold=0 with the winter offset).
    assert is_open(night, (), _t("2026-03-29T02:30"))
    assert next_opening(night, (), _t("2026-03-29T06:00")) == _t("2026-04-05T00:00")
    # Autumn: 02:30 happens twice and the night lasts 7 hours; both 02:30s are inside it.
    assert is_open(night, (), _t("2026-10-25T02:30", 0)) and is_open(night, (), _t("2026-10-25T02:30", 1))
    shifted = TeamHours.model_validate({"team": "x", "weekly": {"sunday": [{"opens": "02:10", "closes": "02:50"}]}})
    assert next_opening(shifted, (), _t("2026-03-29T00:00")) == _t("2026-03-29T03:10")  # an hour later on the clock
    ghost = TeamHours.model_validate({"team": "x", "weekly": {"sunday": [{"opens": "02:30", "closes": "03:00"}]}})
    assert next_opening(ghost, (), _t("2026-03-29T00:00")) == _t("2026-04-05T02:30")  # 02:30-03:00 never was


def test_holidays_close_unless_an_override_opens() -> None:
    base = _settings().teams[0]
    assert not is_open(base, HOLIDAYS, _t("2026-05-14T10:00"))  # Ascension Day
    extra = {"first": "2026-05-14", "last": "2026-05-14", "hours": [{"opens": "09:00", "closes": "12:00"}]}
    opened = TeamHours.model_validate({**base.model_dump(), "overrides": [*base.model_dump()["overrides"], extra]})
    assert is_open(opened, HOLIDAYS, _t("2026-05-14T10:00")) and not is_open(opened, HOLIDAYS, _t("2026-05-14T13:00"))


HOURS = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 47), st.integers(1, 48)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(spec=HOURS, closed=st.sets(st.integers(0, 60), max_size=10), offset=st.integers(0, 60 * 86_400))
def test_next_opening_is_open_and_nothing_before_it_is(spec: list[tuple[int, int, int]], closed: set[int],
                                                      offset: int) -> None:  # fmt: skip
    weekly: dict[str, list[dict[str, str]]] = {}
    for day, start, length in spec:
        end = min(48, start + length)
        slot = {"opens": f"{start // 2:02d}:{start % 2 * 30:02d}", "closes": f"{end // 2 % 24:02d}:{end % 2 * 30:02d}"}
        weekly.setdefault(WEEKDAYS[day % 5] if day < 5 else ["saturday", "sunday"][day - 5], []).append(slot)
    try:
        hours = TeamHours.model_validate({"team": "t", "weekly": weekly})
    except ValueError:
        return  # overlapping intervals are refused; the property is about valid hours
    shut = {date.fromordinal(date(2026, 3, 1).toordinal() + d) for d in closed}
    t = _t("2026-03-01T00:00") + offset
    found = next_opening(hours, shut, t)
    if found is None:
        assert not any(is_open(hours, shut, t + k * 900) for k in range(0, 400 * 96, 97))
        return
    assert is_open(hours, shut, found)
    assert not any(is_open(hours, shut, s) for s in range(int(t) + 1, int(found), 300) if s < found)
    assert found == t or not is_open(hours, shut, t)


def test_overlapping_rota_entries_are_refused() -> None:
    doc = _settings().model_dump(mode="json")
    doc["rota"].append({"team": "Nord", "role": "nurse", "weekday": "monday", "starts": "15:00", "ends": "18:00",
                        "staff": ["Ola"]})  # fmt: skip
    with pytest.raises(PolicyError, match="rota entries overlap: 'Nord' nurse on monday 08:00-15:30 and 15:00-18:00"):
        parse_service(doc)


def test_a_required_role_uncovered_in_service_hours_is_refused_with_the_periods() -> None:
    doc = _settings().model_dump(mode="json")
    doc["rota"] = [e for e in doc["rota"] if e["weekday"] != "friday"]
    doc["rota"][0]["starts"] = "09:00"
    with pytest.raises(PolicyError, match="nobody is nurse on monday 08:00-09:00, friday 08:00-15:30"):
        parse_service(doc)
    with pytest.raises(PolicyError, match=r"closes \(09:00\) must come after opens"):
        parse_service({"teams": [{"team": "x", "weekly": {"monday": [{"opens": "10:00", "closes": "09:00"}]}}]})
    assert on_duty(_settings(), "Nord", "nurse", _t("2026-12-01T10:00")) == ("Kari",)
    assert time(0) not in {e.starts for e in _settings().rota}
