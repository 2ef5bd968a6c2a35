"""The pages' formatting and wording without a server: Norwegian numbers and Oslo times through Babel, an
alert's value and limit in words, the sparkline, the form fields' times, and the return paths after sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.web import formats
from cloud.web.forms import Checked, oslo_time, snooze_minutes
from cloud.web.navigation import after_sign_in, local_path
from cloud.web.sparkline import sparkline
from cloud.web.wording import alert_wording
from cloud.worklist.models import AlertOut
from common.i18n import translations


def test_numbers_and_measurements_are_written_the_norwegian_way() -> None:
    assert formats.number(37.1, "nb") == "37,1" and formats.number(37.1, "en") == "37.1"
    assert formats.number(1234.5, "nb") == "1\u00a0234,5"
    assert formats.number(37, "nb", digits=1) == "37,0"
    assert formats.measure(38.9, "Cel", "nb") == "38,9\u00a0°C"
    assert formats.measure(120, "mm[Hg]", "en") == "120\u00a0mmHg"
    assert formats.metric_name("spo2", "nb") == "Oksygenmetning"


@pytest.mark.parametrize(
    ("moment", "clock"),
    [
        (datetime(2026, 7, 1, 13, 5, tzinfo=UTC), "15:05"),  # summer time, UTC+2
        (datetime(2026, 12, 1, 13, 5, tzinfo=UTC), "14:05"),  # winter time, UTC+1
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "01:30"),  # the hour before the clocks go forward
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "03:30"),  # and after
    ],
)
def test_times_are_oslo_time_on_a_24_hour_clock(moment: datetime, clock: str) -> None:
    assert formats.clock(moment, "nb") == formats.clock(moment, "en") == clock
    assert formats.when(moment, "nb").endswith(clock)


def test_relative_times_read_in_the_language() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert formats.ago(now - timedelta(minutes=5), "nb", now) == "for 5 minutter siden"
    assert formats.ago(now - timedelta(minutes=5), "en", now) == "5 minutes ago"


def _alert(**explanation: object) -> AlertOut:
    now = datetime.now(UTC)
    return AlertOut(
        id=1, rule="ge.temperature", alert_class="clinical", severity="yellow", state="triggered", opened_at=now,
        updated_at=now, last_input_at=now, repeats=0, message="Temperature outside limits: body.temperature 38.9",
        explanation=explanation, last_value={}, snoozed_until=None, resolved_at=None,
    )  # fmt: skip


def test_an_alert_says_its_value_and_limit_in_words() -> None:
    limits = {"green_low": 36.1, "green_high": 37.8, "yellow_low": 35.1, "yellow_high": 39.0}
    alert = _alert(explanation={"inputs": {"newest_value": 38.9},
                                "thresholds": {"metric": "body.temperature", "limits": limits}})  # fmt: skip
    nb = alert_wording(alert, translations("nb"), "nb")
    assert nb.value == "38,9\u00a0°C" and nb.threshold == "normalt 36,1–37,8\u00a0°C"
    assert alert_wording(alert, translations("en"), "en").threshold == "normal 36.1–37.8\u00a0°C"
    news2 = _alert(parameters={"severities": {"yellow": {"min_score": 3}}}, explanation={"values": {"score": 5}})
    assert alert_wording(news2, translations("nb"), "nb").value == "NEWS2-poeng 5"
    assert alert_wording(news2, translations("nb"), "nb").threshold == "varsel fra 3"
    bare = alert_wording(_alert(), translations("nb"), "nb")
    assert (bare.value, bare.threshold) == ("", "")


def test_the_sparkline_is_svg_with_its_values_in_its_label() -> None:
    drawn = str(sparkline([97, 93, 86], 'SpO2: 97 %, 93 %, 86 % <script>"', band=(96, None)))
    assert drawn.startswith('<svg class="spark"') and drawn.count(",") >= 3
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn  # the label is escaped
    assert 'class="band"' in drawn and "<polyline" in drawn and "<circle" in drawn
    assert str(sparkline([], "nothing")) == ""


def test_form_times_are_oslo_wall_clock_times() -> None:
    assert oslo_time("2026-07-01T15:05") == datetime(2026, 7, 1, 13, 5, tzinfo=UTC)
    assert oslo_time("  ") is None
    with pytest.raises(ValueError):
        oslo_time("2026-07-01T15:05+02:00")
    now = datetime.now(UTC)
    ahead = Checked({"until": formats.local_input(now + timedelta(hours=2))})
    assert 119 <= snooze_minutes(ahead, now) <= 120 and ahead.errors == {}
    far = Checked({"until": formats.local_input(now + timedelta(days=8))})
    snooze_minutes(far, now)
    assert far.errors == {"until": "A snooze can last at most 7 days."}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/alerts/7?x=1", "/alerts/7?x=1"),
        ("//evil.example/a", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        (None, "/"),
        ("alerts/7", "/"),
    ],
)
def test_only_paths_of_this_service_are_return_targets(target: object, expected: str) -> None:
    assert local_path(target) == expected


def test_sign_in_never_returns_to_itself() -> None:
    assert after_sign_in("/signin?next=/") == "/start" and after_sign_in("/alerts/3") == "/alerts/3"
    assert after_sign_in("/") == "/start" and after_sign_in("/handover?since=") == "/handover?since="
