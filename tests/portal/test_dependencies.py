"""Dependencies are locked (requirements.lock, hash-pinned, in step with
pyproject.toml) and `bin/audit-deps` (in `make lint`) fails on a known
vulnerability. pip-audit itself is replaced by a stub printing a fixed report:
the vulnerability service is outside the machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.M)
    }


def test_every_dependency_is_pinned_with_hashes_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    locked = _locked()

    assert sorted(wanted - set(locked)) == [], "run `make lock`"
    text = (ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if "==" in block.split("\n")[0]:
            assert "--hash=sha256:" in block, block.split("\n")[0]


STUB = """#!{python}
import json, sys
out = sys.argv[sys.argv.index("--output") + 1]
json.dump({report}, open(out, "w"))
"""


def _audit(tmp_path, report: dict, **env) -> subprocess.CompletedProcess:
    stub = tmp_path / "pip-audit"
    stub.write_text(STUB.format(python=sys.executable, report=repr(report)))
    stub.chmod(0o755)
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "audit-deps")],
        env={**os.environ, "AUDIT_PIP_AUDIT": str(stub), **env},
        capture_output=True,
        text=True,
        check=False,
    )


VULNERABLE = {
    "dependencies": [
        {
            "name": "django",
            "version": "5.2.0",
            "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["5.2.1"]}],
        },
        {"name": "celery", "version": "5.5.0", "vulns": []},
    ],
    "fixes": [],
}
CLEAN = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []}]}
UNREACHABLE = {
    "dependencies": [
        {"name": "django", "version": "5.2.19", "skip_reason": "not found"}
    ]
}


def test_audit_fails_on_a_known_vulnerability(tmp_path):
    run = _audit(tmp_path, VULNERABLE)

    assert run.returncode == 1
    assert "django 5.2.0: PYSEC-0000-1 (fixed in 5.2.1)" in run.stdout
    assert "2 of 2 locked packages audited, 1 with known vulnerabilities" in (
        run.stdout
    )


def test_audit_passes_when_nothing_is_known(tmp_path):
    assert _audit(tmp_path, CLEAN).returncode == 0


@pytest.mark.parametrize(("strict", "code"), [("", 0), ("1", 1)])
def test_unaudited_packages_warn_or_fail_when_the_service_is_required(
    tmp_path, strict, code
):
    run = _audit(tmp_path, UNREACHABLE, AUDIT_REQUIRE_SERVICE=strict)

    assert run.returncode == code
    assert "WARNING: 1 not audited" in run.stdout


def test_audit_reads_the_lock_with_hashes(tmp_path):
    stub_args = tmp_path / "args.json"
    stub = tmp_path / "pip-audit"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(stub_args)!r}, 'w'))\n"
        "out = sys.argv[sys.argv.index('--output') + 1]\n"
        "json.dump({'dependencies': []}, open(out, 'w'))\n"
    )
    stub.chmod(0o755)
    subprocess.run(
        [sys.executable, str(ROOT / "bin" / "audit-deps")],
        env={**os.environ, "AUDIT_PIP_AUDIT": str(stub)},
        check=True,
        capture_output=True,
    )
    args = json.loads(stub_args.read_text())

    assert args[args.index("--requirement") + 1] == str(ROOT / "requirements.lock")
    assert "--require-hashes" in args
