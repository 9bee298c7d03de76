"""The backup drill (README, "Backups"): ``pg_dump`` the database, restore it
into a new one, and ``verify_audit_chain`` against the copy proves nothing
was lost or altered — and fails once the copy is tampered with. PostgreSQL
(the CI's second pass); skipped on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from portal import audit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)


def _pg(*args: str, **kwargs) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    base = [
        "-h",
        db.get("HOST") or "127.0.0.1",
        "-p",
        str(db.get("PORT") or 5432),
        "-U",
        db.get("USER") or "postgres",
    ]
    return subprocess.run(
        [args[0], *base, *args[1:]], check=True, capture_output=True, **kwargs
    )


def _verify(database: str, *extra: str) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    url = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{database}"
    )
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_restored_backup_verifies_and_a_tampered_copy_does_not(
    tmp_path, org, portfolio, milestone_in
):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore: PostgreSQL only")
    for n in range(3):
        milestone_in(org.fr, name=f"Backed up {n}")
    audit.seal()
    anchor = "{}:{}".format(*audit.chain_head())
    dump = tmp_path / "cairn.dump"
    copy = f"cairn_restore_{uuid.uuid4().hex[:8]}"

    _pg(
        "pg_dump",
        "--format=custom",
        "--file",
        str(dump),
        connection.settings_dict["NAME"],
    )
    _pg("createdb", copy)
    try:
        _pg("pg_restore", "--no-owner", "--dbname", copy, str(dump))

        restored = _verify(copy, "--expect-head", anchor)
        assert restored.returncode == 0, restored.stderr
        assert "Audit chain intact" in restored.stdout
        assert f"Anchor: {anchor}" in restored.stdout

        # Lose a history row in the copy (as a superuser, triggers off).
        _pg(
            "psql",
            "-d",
            copy,
            "-c",
            "SET session_replication_role = replica; "
            "DELETE FROM milestones_historicalmilestone WHERE history_id = "
            "(SELECT max(history_id) FROM milestones_historicalmilestone);",
        )
        tampered = _verify(copy, "--expect-head", anchor)
        assert tampered.returncode == 1
        assert "missing" in tampered.stderr
    finally:
        _pg("dropdb", "--if-exists", "--force", copy)
