"""Cross-cutting basics: masked JSON logs, Europe/Oslo display, translations, settings errors."""

from __future__ import annotations

import gettext
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cloud.config import CloudSettings, settings_error_line
from common import i18n
from common.logs import MASK, JsonFormatter, configure_logging, mask_identity_numbers
from common.timefmt import format_oslo, to_oslo, to_utc


@contextmanager
def _json_log(name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger that writes JSON lines to the returned stream, and only there."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def _log_line(message: str, *args: object, **extra: object) -> dict[str, object]:
    with _json_log("tryggheim.test.masking") as (logger, stream):
        logger.warning(message, *args, extra=extra)
    return json.loads(stream.getvalue())


def test_the_schedulers_routine_lines_are_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by running the image: APScheduler's two INFO lines per job run, every few seconds, filled the
    service's log; its warnings (a missed run) still come through, and so does everything else at INFO."""
    root = logging.getLogger()
    before = root.level, list(root.handlers), logging.getLogger("apscheduler").level
    try:
        configure_logging("INFO")
        logging.getLogger("apscheduler.executors.default").info("Running job %s", "tick")
        logging.getLogger("apscheduler.executors.default").warning("Run time of job %s was missed", "tick")
        logging.getLogger("cloud.ingest").info("stored")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
        logging.getLogger("apscheduler").setLevel(before[2])
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("apscheduler.executors.default", "warning"),
        ("cloud.ingest", "info"),
    ]


def test_identity_numbers_are_masked_in_message_args_and_extras() -> None:
    entry = _log_line("patient %s admitted", "01010112345", patient={"nin": "010101 12345"}, raw=1010112345)
    text = json.dumps(entry)
    assert "12345" not in text
    assert entry["message"] == f"patient {MASK} admitted"
    assert entry["patient"] == {"nin": MASK}


def test_other_numbers_survive_masking() -> None:
    assert mask_identity_numbers("weight 81.5 kg, seq 1234567890, phone 12345678") == (
        "weight 81.5 kg, seq 1234567890, phone 12345678"
    )
    # A longer run of digits (for example a 12-digit id) is not an identity number.
    assert mask_identity_numbers("ref 123456789012") == "ref 123456789012"


@given(st.from_regex(r"\A[0-9]{11}\Z"), st.text(alphabet="abc ,.:;", max_size=5))
def test_any_eleven_digits_are_masked(number: str, around: str) -> None:
    assert number not in mask_identity_numbers(f"{around}{number}{around}")


def test_exceptions_are_masked() -> None:
    with _json_log("tryggheim.test.exc") as (logger, stream):
        try:
            raise ValueError("bad fnr 31129912345")
        except ValueError:
            logger.exception("failed")
    assert "31129912345" not in stream.getvalue()


def test_oslo_display_follows_daylight_saving() -> None:
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert format_oslo(winter) == "2026-01-15 13:00"
    assert format_oslo(summer) == "2026-07-15 14:00"
    # The autumn change: 01:30 UTC is 02:30 CET after clocks went back at 03:00 CEST.
    assert to_oslo(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)).utcoffset() == timedelta(hours=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001 - the point of the test
    assert to_utc(datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))).hour == 11


def test_norwegian_is_the_default_language() -> None:
    assert i18n.translations().gettext("Stopped.") == "Stoppet."
    assert i18n.translations("en").gettext("Stopped.") == "Stopped."
    assert i18n.translations("de").gettext("Stopped.") == "Stoppet."


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "nb"),
        ("en-GB,en;q=0.9", "en"),
        ("nn-NO,en;q=0.5", "nb"),
        ("de,en;q=0.3", "en"),
        ("de", "nb"),
        ("en;q=0.4,nb;q=0.8", "nb"),
        ("en;q=garbage", "nb"),
    ],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_compiled_catalogues_match_their_sources(language: str) -> None:
    """`make i18n` regenerates the .mo files; this fails when someone forgot."""
    po_path = Path(i18n.LOCALE_DIR) / language / "LC_MESSAGES" / "tryggheim.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    with po_path.with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for message in catalog:
        if isinstance(message.id, tuple):  # a plural: both forms, by count
            for count, form, string in zip((1, 2), message.id, message.string, strict=True):
                assert compiled.ngettext(*message.id, count) == (string or form), message.id
        elif message.id:
            assert compiled.gettext(message.id) == (message.string or message.id), message.id


def test_every_bokmal_message_is_translated() -> None:
    with (Path(i18n.LOCALE_DIR) / "nb" / "LC_MESSAGES" / "tryggheim.po").open("rb") as handle:
        catalog = read_po(handle)
    strings = {m.id: m.string if isinstance(m.string, tuple) else (m.string,) for m in catalog if m.id}
    assert [key for key, forms in strings.items() if not all(forms)] == []


@pytest.mark.parametrize(
    ("env", "variable", "cause"),
    [
        ({"TRYGGHEIM_PORT": "0"}, "TRYGGHEIM_PORT", "greater than or equal to 1"),
        ({"TRYGGHEIM_DATABASE_URL": "postgresql://u@h:99999/db"}, "TRYGGHEIM_DATABASE_URL", "port"),
        ({"TRYGGHEIM_DATABASE_OWNER_URL": "http://x/y"}, "TRYGGHEIM_DATABASE_OWNER_URL", "scheme"),
        ({"TRYGGHEIM_LOG_LEVEL": "chatty"}, "TRYGGHEIM_LOG_LEVEL", "DEBUG"),
    ],
)
def test_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str, cause: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as error:
        CloudSettings()
    line = settings_error_line(error.value)
    assert line.startswith(f"{variable}: ")
    assert cause in line
    assert "\n" not in line
