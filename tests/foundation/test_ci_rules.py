"""Under CI=true a skipped test fails the run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_SUITE = """
import pytest

def test_runs():
    assert 1 + 1 == 2

@pytest.mark.skip(reason="a missing component")
def test_skipped():
    pass
"""


def test_a_skip_fails_the_run_when_ci_is_true(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(_SUITE)
    result = pytester.runpytest("-p", "tests.support.ci_skips")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CI=true: 1 skipped test(s) count as failures*"])


def test_a_skip_is_only_reported_outside_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(_SUITE)
    result = pytester.runpytest("-p", "tests.support.ci_skips")
    assert result.ret == pytest.ExitCode.OK
