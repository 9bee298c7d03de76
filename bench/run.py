#!/usr/bin/env python
"""``make bench``: measure Cairn at scale against budgets and a plain baseline.

Usage::

    make bench                                  # small: 1,000 milestones, SQLite
    make bench BENCH_ARGS="--size large"        # 10,000 milestones, 1M history
    make bench BENCH_ARGS="--size sweep"        # 100,000 milestones, the sweep
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench make bench
    .venv/bin/python bench/run.py --milestones 2000 --repeat 30 --only dashboard

Sizes (see ``SIZES``): ``small`` is 1,000 milestones; ``large`` is 10,000
milestones with about 100,000 progress updates, 5,000 risks and a million
history rows; ``sweep`` is 100,000 milestones for the escalation sweep, whose
budget is set at that size (it runs that scenario only, unless ``--only``).

It builds (once, then reuses) a dataset with ``generate_dataset`` in its own
database (``bench/bench-<size>.sqlite3`` unless ``DATABASE_URL`` is set; a
PostgreSQL database is created if missing), then runs every scenario whose
feature exists, through the full Django stack (test client, middleware,
access policy). For each scenario it prints and writes to
``bench/results.json``: median and 95th percentile time, SQL queries per run,
peak memory where it matters, the budget and PASS/FAIL. Beside the admin
changelist and the API list it runs the stock Django ``ModelAdmin`` and a
plain DRF ``ModelViewSet`` over the same table and reports the ratio.

The process is measured as ``portal/wsgi.py`` serves: after start-up and a
warm-up, the heap is frozen out of the garbage collector's reach. Celery tasks
are queued to an in-memory broker and not run, as a request in production
queues them for the worker.

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


@dataclass(frozen=True)
class Size:
    milestones: int
    updates_per_milestone: int
    risks: int
    history_rows: int = 0
    only: tuple[str, ...] = ()


SIZES = {
    "small": Size(1_000, updates_per_milestone=10, risks=500),
    # About 100,000 progress updates (only started milestones report).
    "large": Size(
        10_000, updates_per_milestone=22, risks=5_000, history_rows=1_000_000
    ),
    "sweep": Size(
        100_000,
        updates_per_milestone=2,
        risks=10_000,
        only=("escalation sweep (first run)", "escalation sweep"),
    ),
}


def configure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    env = os.environ
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    env["DEBUG"] = "False"
    env.setdefault("SECRET_KEY", "cairn-benchmark-key-" + "x" * 40)
    env["SECURE_SSL_REDIRECT"] = "False"
    env["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    # Tasks are queued as in production (an in-memory broker, no worker):
    # a request pays for queuing them, not for running them. Scenarios that
    # need a task's work done run it themselves, untimed.
    env["CELERY_BROKER_URL"] = "memory://"
    env.setdefault("LOG_LEVEL", "WARNING")
    env["EMAIL_URL"] = "memorymail://"
    env["MEDIA_ROOT"] = str(ROOT / "bench" / "media")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = (
            f"sqlite:///{ROOT / 'bench' / f'bench-{args.label}.sqlite3'}"
        )
    else:
        ensure_postgres_database(env["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings

    settings.ROOT_URLCONF = "bench.urls"


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            print(f"Creating PostgreSQL database {name!r}.")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# Dataset -------------------------------------------------------------------


def dataset_prefix(args: argparse.Namespace) -> str:
    """The dataset's namespace names its options: a database holding another
    dataset is rebuilt rather than measured by mistake."""
    import hashlib

    spec = (
        f"{args.milestones}:{args.seed}:{args.updates_per_milestone}:"
        f"{args.risks}:{args.history_rows}"
    )
    return "b" + hashlib.sha256(spec.encode()).hexdigest()[:8]


def prepare_dataset(args: argparse.Namespace) -> dict:
    from django.core.management import call_command

    from devdata.dataset import namespace_in_use
    from milestones.models import Milestone

    call_command("migrate", verbosity=0, interactive=False)
    prefix = dataset_prefix(args)
    have = Milestone.objects.count()
    if have == args.milestones and namespace_in_use(prefix):
        print(f"Reusing dataset {prefix!r}: {have:,} milestones.")
    else:
        if have:
            print(
                f"The database holds another dataset ({have:,} milestones): flushing."
            )
            from portal.audit import flush_permitted

            with flush_permitted():
                call_command("flush", verbosity=0, interactive=False)
        options = {
            "milestones": args.milestones,
            "seed": args.seed,
            "prefix": prefix,
            "updates_per_milestone": args.updates_per_milestone,
            "risks": args.risks,
            "history_rows": args.history_rows,
        }
        print(f"Generating dataset: {options}")
        started = time.perf_counter()
        call_command("generate_dataset", **options)
        print(f"Generated in {time.perf_counter() - started:.1f} s.")
    users = bench_users()
    ensure_escalation_rules()
    refresh_statistics()
    return users


def ensure_escalation_rules() -> None:
    """The default escalation rules a fresh install has (its data migration
    creates them; a flush of another dataset removed them)."""
    try:
        from risks.services import escalation_rules_ensure_defaults
    except ImportError:
        return
    created = escalation_rules_ensure_defaults()
    if created:
        print(f"Restored {len(created)} default escalation rules.")


def refresh_statistics() -> None:
    """Planner statistics, as a production database has them (autovacuum):
    without them a freshly loaded table is planned as if nearly empty. The
    scenarios' rolled-back writes leave dead rows behind too."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    print(f"Statistics refreshed in {time.perf_counter() - started:.1f} s.")


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
        "bench-regional-auditor": (Role.COMPLIANCE_AUDITOR, region),
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
    # The most this scenario may cost as a multiple of its baseline (#20).
    ratio_max: float | None = None
    note: str = ""
    # Run before each sample, untimed (to change the data a sample reads).
    before: Callable[[], object] | None = None
    # A long scenario skips the warm-up run.
    warm_up: bool = True


@dataclass(frozen=True)
class Timed:
    """What a scenario that times itself returns: only part of its run counts
    (the rest prepares or undoes)."""

    ms: float


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


class QueryCounter:
    """Counts the SQL statements a run executes (a database execute wrapper,
    so it costs next to nothing and keeps no SQL in memory)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(scenario: Scenario, default_repeat: int) -> Result:
    import gc

    from django.db import connection

    repeat = scenario.repeat or default_repeat
    samples, queries = [], None
    try:
        if scenario.warm_up:
            if scenario.before:
                scenario.before()
            scenario.run()  # warm-up: caches, connections, imports
        gc.collect()
        gc.freeze()  # as portal/wsgi.py does after start-up
        for _ in range(repeat):
            if scenario.before:
                scenario.before()
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                outcome = scenario.run()
                elapsed = (time.perf_counter() - started) * 1000
            samples.append(outcome.ms if isinstance(outcome, Timed) else elapsed)
            queries = getattr(outcome, "queries", None) or counter.count
        peak = _peak_rss_mb(scenario.run) if scenario.budget_mb else None
    except Exception as exc:  # noqa: BLE001 - a crash is a result too
        traceback.print_exc()
        return Result(scenario.name, "ERROR", note=f"{type(exc).__name__}: {exc}")
    finally:
        gc.unfreeze()
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


def apply_ratio(ours: Result, base: Result, ratio_max: float | None) -> None:
    """Our median over the baseline's, measured side by side; with a target
    (``ratio_max``) it counts towards PASS/FAIL like a budget."""
    ratio = ours.median_ms / base.median_ms
    ours.ratio = f"{ratio:.2f}x {base.name}"
    if ratio_max is None:
        return
    ours.ratio += f" (<={ratio_max:g}x)"
    ours.budget = " ".join(filter(None, [ours.budget, f"<={ratio_max:g}x"]))
    if ours.status in ("PASS", "FAIL", "INFO"):
        ok = ratio <= ratio_max and ours.status != "FAIL"
        ours.status = "PASS" if ok else "FAIL"


def print_table(results: list[Result]) -> None:
    header = (
        f"{'scenario':<30} {'median ms':>10} {'p95 ms':>10} {'queries':>8} "
        f"{'peak MB':>8}  {'budget':<28} {'ratio (target)':<34} status"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        fmt = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
        print(
            f"{r.name:<30} {fmt(r.median_ms):>10} {fmt(r.p95_ms):>10} "
            f"{fmt(r.queries):>8} {fmt(r.peak_mb):>8}  {r.budget:<28} "
            f"{r.ratio:<34} {r.status}"
        )
        if r.note:
            print(f"{'':<30}   {r.note}")


def print_user_load(report: dict) -> None:
    if "pages" not in report:
        print(f"    {report.get('status')}: {report.get('note', '')}")
        return
    print(
        f"    {report['users']} users {report['mix']}, {report['requests']} requests, "
        f"{report['errors']} errors: {report['status']}"
    )
    print(
        f"    {'page':<24}{'requests':>9}{'median':>9}{'p95':>9}{'budget':>9}  status"
    )
    for page, row in report["pages"].items():
        budget = row["budget_p95_ms"] if row["budget_p95_ms"] is not None else "-"
        print(
            f"    {page:<24}{row['requests']:>9}{row['median_ms']:>9}"
            f"{row['p95_ms']:>9}{budget:>9}  {row['status']}"
            + (f" {row['first_errors']}" if row["errors"] else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--milestones", type=int, help="override the size's count")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--updates-per-milestone", type=int, default=None)
    parser.add_argument("--risks", type=int, default=None)
    parser.add_argument("--history-rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--strict", action="store_true", help="exit 1 on FAIL")
    parser.add_argument(
        "--no-user-load",
        action="store_true",
        help="skip the 50 simulated users against make serve (PostgreSQL only; "
        "--only 'user load' runs them alone)",
    )
    parser.add_argument(
        "--user-load-seconds", type=float, default=60.0, help="how long they play"
    )
    parser.add_argument(
        "--no-write-load",
        action="store_true",
        help="skip the PATCH throughput at 1, 4 and 8 clients (PostgreSQL only)",
    )
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    custom = args.milestones not in (None, size.milestones)
    args.milestones = args.milestones or size.milestones
    args.label = str(args.milestones) if custom else args.size
    for name in ("updates_per_milestone", "risks", "history_rows"):
        if getattr(args, name) is None:
            default = getattr(size, name)
            if name == "risks" and custom:
                default = args.milestones // 2
            if name == "history_rows" and custom:
                default = 0
            setattr(args, name, default)
    if not args.only and size.only and not custom:
        args.only = list(size.only)

    configure(args)
    from django.db import connection

    from bench.scenarios import build_scenarios

    users = prepare_dataset(args)
    scenarios, unavailable = build_scenarios(users, args)
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    from devdata.dataset import history_row_count

    history = history_row_count()
    print(
        f"\nCairn benchmark on {connection.vendor}, {args.milestones:,} milestones, "
        f"{history:,} history rows, {args.repeat} runs per scenario"
    )
    results = []
    for scenario in scenarios:
        print(f"  running {scenario.name} ...", flush=True)
        results.append(measure(scenario, args.repeat))
    by_name = {r.name: r for r in results}
    for scenario in scenarios:
        ours, base = by_name.get(scenario.name), by_name.get(scenario.baseline or "")
        if ours and base and ours.median_ms and base.median_ms:
            apply_ratio(ours, base, scenario.ratio_max)
    for name, reason in unavailable:
        results.append(Result(name, "N/A", note=reason))
    print_table(results)
    write_load = None
    if connection.vendor == "postgresql" and not args.no_write_load and not args.only:
        from bench import write_load as load

        print("\n  write throughput (gunicorn, 4 workers) ...", flush=True)
        write_load = load.run()
        for clients, row in write_load.get("rounds", {}).items():
            print(
                f"    {clients} client(s): {row['per_second']} PATCH/s "
                f"({row['patches']} accepted, {row['errors']} errors)"
            )
        if "ratio_8_to_1" in write_load:
            print(
                f"    8 vs 1 client: {write_load['ratio_8_to_1']}x "
                f"(target >= {write_load['target_ratio']}x): {write_load['status']}"
            )
    user_load = None
    wanted = not args.only or "user load" in args.only
    if connection.vendor == "postgresql" and not args.no_user_load and wanted:
        from bench import user_load as users_load

        print(
            f"\n  {users_load.USERS} simulated users against make serve "
            f"for {args.user_load_seconds:.0f} s ...",
            flush=True,
        )
        user_load = users_load.run(seconds=args.user_load_seconds)
        print_user_load(user_load)
    payload = {
        "database": connection.vendor,
        "size": args.label,
        "milestones": args.milestones,
        "history_rows": history,
        "repeat": args.repeat,
        "results": [r.__dict__ for r in results],
        "write_load": write_load,
        "user_load": user_load,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nWrote {args.out}")
    crashed = any(r.status == "ERROR" for r in results)
    failed = any(r.status == "FAIL" for r in results)
    return 1 if crashed or (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
