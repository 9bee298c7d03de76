"""The import graph follows the layers (#16): no app imports one above it,
so there is no cycle between apps.

Every module of the project's apps belongs to one layer; an import, at the
top of a module or inside a function alike, may only reach its own layer or
one below. ``portal`` spans three layers: its kernel (errors, database
helpers, validators, retries: what every app builds on), the shared services
above the access policy (the audit trail, the notification outbox) and the
project's wiring at the top (settings, URLs, middleware, the API root).
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = (
    "portal",
    "accounts",
    "milestones",
    "approvals",
    "scheduling",
    "risks",
    "reporting",
    "devdata",
)

#: Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "kernel",
        (
            "portal.errors",
            "portal.kernel",
            "portal.forms",
            "portal.db",
            "portal.validators",
            "portal.retry",
            "portal.parsers",
            "portal.filters",
            "portal.spreadsheet",
            "portal.constraints",
            "portal.schema",
            "portal.observability",
            "portal.history_clock",
            "portal.staticfiles",
        ),
    ),
    ("access", ("accounts",)),
    (
        "shared services",
        (
            "portal.models",
            "portal.audit",
            "portal.notifications",
            "portal.admin",
            "portal.tasks",
            "portal.metrics",
            "portal.management",
        ),
    ),
    ("planning", ("milestones",)),
    ("scheduling", ("scheduling",)),
    ("approvals", ("approvals",)),
    ("risks", ("risks",)),
    ("reporting", ("reporting",)),
    ("development data", ("devdata",)),
    (
        "project",
        (
            "portal",  # what is not named above: settings, urls, apps, views...
            "portal.urls",
            "portal.settings",
            "portal.api",
            "portal.api_docs",
            "portal.middleware",
            "portal.views",
            "portal.error_views",
            "portal.celery",
            "portal.wsgi",
            "portal.asgi",
            "portal.apps",
        ),
    ),
)


def _layer_of(module: str) -> tuple[int, str]:
    best: tuple[int, int, str] | None = None  # (prefix length, index, name)
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index, name)
    assert best is not None, f"{module} is in no layer"
    return best[1], best[2]


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(p for p in parts if p != "__init__")
            yield name, path


def _imports(name: str, path: Path):
    """(imported module, line) for every import of ``path``, nested ones too;
    relative imports resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module not in APPS:  # ``from portal import audit``: the module
                yield module, node.lineno
            for alias in node.names:  # ``from pkg import module``
                yield f"{module}.{alias.name}", node.lineno


def _upward_imports() -> list[str]:
    problems = []
    for name, path in _modules():
        own, own_name = _layer_of(name)
        for target, line in _imports(name, path):
            if target.split(".")[0] not in APPS:
                continue
            if (
                target.split(".")[0] == name.split(".")[0]
                and target.split(".")[0] != "portal"
            ):
                continue  # within one app
            index, layer = _layer_of(target)
            if index > own:
                where = path.relative_to(ROOT)
                problems.append(
                    f"{where}:{line}: {name} ({own_name}) imports {target} ({layer})"
                )
    return problems


def test_no_module_imports_a_layer_above_its_own():
    problems = _upward_imports()
    assert not problems, "Upward imports:\n" + "\n".join(sorted(set(problems)))


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The walk would report accounts importing the audit trail."""
    assert _layer_of("accounts.services") < _layer_of("portal.audit")
    assert _layer_of("portal.errors") < _layer_of("accounts.policy")
    assert _layer_of("reporting.selectors") < _layer_of("portal.urls")
    fake = tmp_path / "services.py"
    fake.write_text("from portal.audit import event_record\n")
    [(target, _)] = [
        (t, n) for t, n in _imports("accounts.services", fake) if "." in t
    ][:1]
    assert _layer_of(target)[0] > _layer_of("accounts.services")[0]


def test_account_events_are_access_event_kinds():
    """accounts announces; the audit trail records each kind it announces."""
    from accounts import signals
    from portal.models import AuditEvent

    kinds = {signals.LOGIN, signals.TOKEN_CREATED, signals.TOKEN_REVOKED}
    assert kinds <= set(AuditEvent.Kind.values)
