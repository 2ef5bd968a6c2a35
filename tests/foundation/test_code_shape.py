"""Shape rules the style guide sets, checked so that they cannot erode: no function longer than 80 lines
(migrations excepted: each is one DDL script)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80


def _python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=ROOT, capture_output=True, check=True).stdout
    names = [name for name in listed.decode().split("\0") if name and "/migrations/versions/" not in name]
    return [ROOT / name for name in names if (ROOT / name).exists()]


def test_no_function_is_longer_than_80_lines() -> None:
    too_long = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not too_long, "split these into named pieces:\n" + "\n".join(too_long)


SQL_STATEMENT = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\S+.*\b(FROM|VALUES|SET|WHERE)\b")
ROUTE_PACKAGES = ("cloud/api/", "cloud/web/")


def _sql_in(path: Path) -> list[str]:
    """Places in a module that run or spell a SQL statement: an `.execute(` call or a string that reads as SQL."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in {"execute", "executemany", "copy"}:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}(")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_STATEMENT.search(node.value):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value[:60]!r}")
    return found


def test_routes_hold_no_sql() -> None:
    # Route -> domain service -> store: a route that queries the database itself bypasses the owner of the
    # table, and with it the owner's checks and the tests that pin them.
    routes = [p for p in _python_files() if str(p.relative_to(ROOT)).startswith(ROUTE_PACKAGES)]
    assert routes, "no route modules found: the scan would pass for nothing"
    offenders = [place for path in routes for place in _sql_in(path)]
    assert not offenders, "move these into the domain service that owns the table:\n" + "\n".join(offenders)


def test_the_sql_scan_sees_a_query() -> None:
    # The positive control for the test above.
    store = ROOT / "cloud" / "ingest" / "quarantine_view.py"
    assert len(_sql_in(store)) >= 2
