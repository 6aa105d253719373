"""The dependency audit of `make test`: pip-audit over the installed environment; fails on any
known vulnerability that has a fixed version, and says how many packages it could not audit.

    python -m tests.support.audit

A package pip-audit cannot look up is reported, not failed: the vulnerability service may be
unreachable from a build machine (see docs/operations.md), and a run that audited nothing must
say so rather than pass in silence. Every package unaudited fails the run when
`AUDIT_STRICT=1`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def main() -> int:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(f"pip-audit gave no report:\n{result.stderr}", file=sys.stderr)
        return 2
    lines, status = summarize(report, strict=os.environ.get("AUDIT_STRICT") == "1")
    print("\n".join(lines))
    return status


def summarize(report: dict[str, Any], *, strict: bool = False) -> tuple[list[str], int]:
    """The lines to print and the exit status for a pip-audit JSON report."""
    fixable, unfixable, unaudited = [], [], []
    dependencies = [
        dep
        for dep in report.get("dependencies", [])
        if "editable" not in dep.get("skip_reason", "")  # our own package
    ]
    for dep in dependencies:
        if "skip_reason" in dep:
            unaudited.append(dep["name"])
        for vuln in dep.get("vulns", []):
            entry = f"{dep['name']} {dep.get('version')}: {vuln['id']}"
            if vuln.get("fix_versions"):
                fixable.append(f"{entry} (fixed in {', '.join(vuln['fix_versions'])})")
            else:
                unfixable.append(entry)
    audited = len(dependencies) - len(unaudited)
    lines = [f"dependency audit: {audited} packages audited, {len(unaudited)} could not be"]
    if unaudited:
        lines.append(f"  not audited (the service did not answer for): {', '.join(unaudited)}")
    lines += [f"  known vulnerability, no fix yet: {line}" for line in unfixable]
    lines += [f"  FIX AVAILABLE: {line}" for line in fixable]
    failed = bool(fixable) or (strict and bool(unaudited))
    return lines, 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
