#!/usr/bin/env python
"""``make bench``: measure Cairn at scale against budgets and a plain baseline.

Usage::

    make bench                                  # small: 1,000 milestones, SQLite
    make bench BENCH_ARGS="--size large"        # 10,000 milestones
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench make bench
    .venv/bin/python bench/run.py --milestones 2000 --repeat 30 --only dashboard

It builds (once, then reuses) a dataset with ``generate_dataset`` in its own
database (``bench/bench-<size>.sqlite3`` unless ``DATABASE_URL`` is set), then
runs every scenario whose feature exists, through the full Django stack (test
client, middleware, access policy). For each scenario it prints and writes to
``bench/results.json``: median and 95th percentile time, SQL queries per
request, peak memory where it matters, the budget and PASS/FAIL. Beside the
admin changelist and the API list it runs the stock Django ``ModelAdmin`` and a
plain DRF ``ModelViewSet`` over the same table and reports the ratio.

Timings are measurements, never test assertions; the exit code is 0 unless a
scenario crashed (``--strict`` also fails on a missed budget).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"small": 1_000, "large": 10_000}


def configure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    env = os.environ
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    env["DEBUG"] = "False"
    env.setdefault("SECRET_KEY", "cairn-benchmark-key-" + "x" * 40)
    env["SECURE_SSL_REDIRECT"] = "False"
    env["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    env["CELERY_BROKER_URL"] = ""
    env["EMAIL_URL"] = "memorymail://"
    env["MEDIA_ROOT"] = str(ROOT / "bench" / "media")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = (
            f"sqlite:///{ROOT / 'bench' / f'bench-{args.label}.sqlite3'}"
        )
    import django

    django.setup()
    from django.conf import settings

    settings.ROOT_URLCONF = "bench.urls"


# Dataset -------------------------------------------------------------------


def prepare_dataset(args: argparse.Namespace) -> dict:
    from django.core.management import call_command, get_commands, load_command_class

    from milestones.models import Milestone

    call_command("migrate", verbosity=0, interactive=False)
    have = Milestone.objects.count()
    if have >= args.milestones:
        print(f"Reusing dataset: {have:,} milestones.")
    else:
        if have:
            print(
                f"Dataset has {have:,} milestones, want {args.milestones:,}: flushing."
            )
            call_command("flush", verbosity=0, interactive=False)
        if "generate_dataset" not in get_commands():
            raise SystemExit("generate_dataset is not available: cannot build data.")
        command = load_command_class(
            get_commands()["generate_dataset"], "generate_dataset"
        )
        options = {"milestones": args.milestones, "seed": args.seed}
        accepted = {
            a.dest for a in command.create_parser("", "generate_dataset")._actions
        }
        extras = {
            "updates_per_milestone": args.updates_per_milestone,
            "risks": args.risks,
        }
        options.update({k: v for k, v in extras.items() if k in accepted and v})
        print(f"Generating dataset: {options}")
        started = time.perf_counter()
        call_command("generate_dataset", **options)
        print(f"Generated in {time.perf_counter() - started:.1f} s.")
    return bench_users()


def bench_users() -> dict:
    """Users of known roles for the scenarios, created idempotently."""
    from accounts import services
    from accounts.models import Membership, OrgUnit, User
    from accounts.roles import Role

    root = OrgUnit.objects.filter(parent__isnull=True).order_by("pk").first()
    region = OrgUnit.objects.filter(kind=OrgUnit.Kind.REGION).order_by("pk").first()
    wanted = {
        "bench-exec": (Role.EXECUTIVE, root),
        "bench-pmo": (Role.PORTFOLIO_MANAGER, root),
        "bench-auditor": (Role.COMPLIANCE_AUDITOR, root),
        "bench-contributor": (Role.CONTRIBUTOR, region),
    }
    users = {}
    for username, (role, unit) in wanted.items():
        user, _ = User.objects.get_or_create(username=username)
        if not Membership.objects.filter(user=user, role=role, org_unit=unit).exists():
            limit = 10**9 if role == Role.EXECUTIVE else None
            services.membership_create(
                actor=None, user=user, role=role, org_unit=unit, authority_limit=limit
            )
        users[username.removeprefix("bench-")] = user
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    users["admin"] = admin
    return users


# Measurement ---------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    run: Callable[[], object]
    budget_ms: float | None = None
    budget_queries: int | None = None
    budget_mb: float | None = None
    repeat: int | None = None
    baseline: str | None = None
    note: str = ""


@dataclass
class Result:
    name: str
    status: str
    median_ms: float | None = None
    p95_ms: float | None = None
    queries: int | None = None
    peak_mb: float | None = None
    budget: str = ""
    ratio: str = ""
    note: str = ""
    samples: list[float] = field(default_factory=list)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _peak_rss_mb(run: Callable[[], object]) -> float:
    """Peak resident memory of a forked child that runs the scenario once."""
    from django.db import connections

    connections.close_all()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        code = 0
        try:
            run()
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            os.write(write, str(peak_kb).encode())
        except BaseException:  # noqa: BLE001 - report and exit the child
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    data = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    return int(data) / 1024 if data else float("nan")


def measure(scenario: Scenario, default_repeat: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    repeat = scenario.repeat or default_repeat
    try:
        scenario.run()  # warm-up: caches, connections, imports
        with CaptureQueriesContext(connection) as ctx:
            scenario.run()
        queries = len(ctx.captured_queries)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            scenario.run()
            samples.append((time.perf_counter() - started) * 1000)
        peak = _peak_rss_mb(scenario.run) if scenario.budget_mb else None
    except Exception as exc:  # noqa: BLE001 - a crash is a result too
        traceback.print_exc()
        return Result(scenario.name, "ERROR", note=f"{type(exc).__name__}: {exc}")
    median, p95 = statistics.median(samples), _percentile(samples, 95)
    ok = True
    budget = []
    if scenario.budget_ms is not None:
        ok &= p95 <= scenario.budget_ms
        budget.append(f"p95<={scenario.budget_ms:g}ms")
    if scenario.budget_queries is not None:
        ok &= queries <= scenario.budget_queries
        budget.append(f"<={scenario.budget_queries}q")
    if scenario.budget_mb is not None:
        ok &= peak is not None and peak <= scenario.budget_mb
        budget.append(f"<={scenario.budget_mb:g}MB")
    status = ("PASS" if ok else "FAIL") if budget else "INFO"
    return Result(
        scenario.name,
        status,
        round(median, 2),
        round(p95, 2),
        queries,
        round(peak, 1) if peak is not None else None,
        " ".join(budget),
        note=scenario.note,
        samples=[round(s, 2) for s in samples],
    )


def print_table(results: list[Result]) -> None:
    header = (
        f"{'scenario':<30} {'median ms':>10} {'p95 ms':>10} {'queries':>8} "
        f"{'peak MB':>8}  {'budget':<28} {'ratio':<18} status"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        fmt = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
        print(
            f"{r.name:<30} {fmt(r.median_ms):>10} {fmt(r.p95_ms):>10} "
            f"{fmt(r.queries):>8} {fmt(r.peak_mb):>8}  {r.budget:<28} "
            f"{r.ratio:<18} {r.status}"
        )
        if r.note:
            print(f"{'':<30}   {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--milestones", type=int, help="override the size's count")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--updates-per-milestone", type=int, default=10)
    parser.add_argument("--risks", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--strict", action="store_true", help="exit 1 on FAIL")
    args = parser.parse_args(argv)
    args.milestones = args.milestones or SIZES[args.size]
    args.label = (
        args.size if args.milestones == SIZES[args.size] else str(args.milestones)
    )
    if args.risks is None:
        args.risks = args.milestones // 2

    configure(args)
    from django.db import connection

    from bench.scenarios import build_scenarios

    users = prepare_dataset(args)
    scenarios, unavailable = build_scenarios(users, args)
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    print(
        f"\nCairn benchmark on {connection.vendor}, {args.milestones:,} milestones, "
        f"{args.repeat} runs per scenario"
    )
    results = []
    for scenario in scenarios:
        print(f"  running {scenario.name} ...", flush=True)
        results.append(measure(scenario, args.repeat))
    by_name = {r.name: r for r in results}
    for scenario in scenarios:
        ours, base = by_name.get(scenario.name), by_name.get(scenario.baseline or "")
        if ours and base and ours.median_ms and base.median_ms:
            ours.ratio = f"{ours.median_ms / base.median_ms:.2f}x {base.name}"
    for name, reason in unavailable:
        results.append(Result(name, "N/A", note=reason))
    print_table(results)
    payload = {
        "database": connection.vendor,
        "milestones": args.milestones,
        "repeat": args.repeat,
        "results": [r.__dict__ for r in results],
    }
    Path(args.out).write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nWrote {args.out}")
    crashed = any(r.status == "ERROR" for r in results)
    failed = any(r.status == "FAIL" for r in results)
    return 1 if crashed or (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
