"""The dependency audit's verdict (tests/support/audit.py) on pip-audit's JSON report."""

from __future__ import annotations

from tests.support.audit import summarize


def report(*deps: dict[str, object]) -> dict[str, object]:
    return {"dependencies": list(deps), "fixes": []}


def test_a_vulnerability_with_a_fix_fails() -> None:
    lines, status = summarize(
        report(
            {
                "name": "jinja2",
                "version": "2.10",
                "vulns": [{"id": "GHSA-x", "fix_versions": ["2.10.1"], "aliases": []}],
            },
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        )
    )
    assert status == 1
    assert "FIX AVAILABLE: jinja2 2.10: GHSA-x (fixed in 2.10.1)" in lines[-1]
    assert lines[0] == "dependency audit: 2 packages audited, 0 could not be"


def test_a_vulnerability_without_a_fix_is_reported_not_failed() -> None:
    lines, status = summarize(
        report({"name": "a", "version": "1", "vulns": [{"id": "V-1", "fix_versions": []}]})
    )
    assert status == 0 and "no fix yet: a 1: V-1" in lines[-1]


def test_unaudited_packages_are_said_and_fail_only_when_strict() -> None:
    deps = (
        {"name": "numpy", "skip_reason": "Dependency not found on PyPI"},
        {"name": "valuehealth", "skip_reason": "distribution marked as editable"},
    )
    lines, status = summarize(report(*deps))
    assert status == 0
    assert lines[0] == "dependency audit: 0 packages audited, 1 could not be"
    assert "numpy" in lines[1] and "valuehealth" not in lines[1]
    assert summarize(report(*deps), strict=True)[1] == 1
