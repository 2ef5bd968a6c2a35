"""Every source string the code hands to gettext, and every protocol rule title (worded through the catalogue
by alerts.wording), has a bokmål translation: a missing one would show English to a Norwegian reader."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from alerts.protocols.load import load_protocol, protocol_names
from common import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "device_profiles", "alerts", "cloud", "edge", "tryggheim")
# Calls that take a source string: gettext's `_`, the `N_` marker, and Reader's `_`/`n_` (alerts.wording).
SINGULAR = frozenset({"_", "N_", "gettext"})
PLURAL = frozenset({"n_", "ngettext"})


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def source_strings(path: Path) -> Iterator[tuple[str, int]]:
    """(msgid, line) of every gettext call with literal arguments in one file (both forms of a plural)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = _called(node)
        count = 1 if name in SINGULAR else 2 if name in PLURAL else 0
        for argument in node.args[:count]:
            if (text := _literal(argument)) is not None:
                yield text, node.lineno


def _bokmal() -> dict[str, object]:
    with (Path(i18n.LOCALE_DIR) / "nb" / "LC_MESSAGES" / "tryggheim.po").open("rb") as handle:
        catalog = read_po(handle)
    found: dict[str, object] = {}
    for message in catalog:
        if isinstance(message.id, tuple):
            for form in message.id:
                found[form] = message.string
        elif message.id:
            found[message.id] = message.string
    return found


def test_every_source_string_in_the_code_is_in_the_bokmal_catalogue() -> None:
    known = _bokmal()
    missing = sorted(
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for text, line in source_strings(path)
        if text not in known
    )
    assert missing == []


def test_the_scan_finds_the_calls_it_is_meant_to_find(tmp_path: Path) -> None:
    """The scanner itself: each call form it must see, and a dynamic argument it must skip."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "_('one')\nN_('two')\nreader._('three')\nreader.n_('four', 'fours', n)\nt.gettext('five')\n"
        "t.ngettext('six', 'sixes', 2)\n_(name)\nprint('not a message')\n",
        encoding="utf-8",
    )
    found = {text for text, _ in source_strings(sample)}
    assert found == {"one", "two", "three", "four", "fours", "five", "six", "sixes"}


@pytest.mark.parametrize("name", protocol_names())
def test_every_protocol_rule_title_is_in_the_bokmal_catalogue(name: str) -> None:
    known = _bokmal()
    titles = {rule.spec.title for rule in load_protocol(name).rules}
    assert sorted(title for title in titles if title not in known) == []
