"""Synthetic data at scale for benchmarks (``manage.py generate_dataset``).

:func:`generate` builds, from one seed: regions, countries and sites (under
the organisation's one global unit), users with memberships (contributors and
owners per country, a portfolio manager per region; a central PMO, two
executives and an auditor as members of every generated portfolio),
portfolios with categories summing to 100 % and objectives, then per
portfolio milestones, acyclic dependencies (about three per milestone, always
from an earlier to a later milestone of the same portfolio), a checkpoint and
FTE allocations per milestone, progress updates and KPIs with measurements.

Determinism: every random choice comes from ``random.Random`` streams seeded
from ``seed`` (one stream per phase and portfolio), and every date from
``as_of`` (default: today). The same seed and ``as_of`` (and ``TIME_ZONE``)
give the same names, dates and numbers on SQLite and PostgreSQL;
:func:`digest` fingerprints a dataset without primary keys or timestamps to
prove it.

Namespace: everything lives under a prefix (``ds<seed>`` unless given): org
unit codes, usernames, portfolio slugs and milestone codes start with it. A
second run into an existing namespace is refused, so datasets never mix; use
another seed or prefix.

History: small, rare rows (org units, memberships, portfolios, categories,
objectives) go through the services; bulk rows go through simple-history's
``bulk_create_with_history``, never a bare ``bulk_create``. Every generated
row gets a creation history row: milestones are written as they stand after
their last progress update (reason "Synthetic dataset: planned and
reported"), and each progress update's row names its author. History dates
are the time the rows were written; ``submitted_at`` and ``last_progress_at``
carry the synthetic timeline. No ``milestone_updated`` signals are sent: run
an escalation sweep afterwards if you need escalations.
"""

from __future__ import annotations

import hashlib
import random
import re
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import OrgUnit, User
from accounts.roles import Role
from milestones import services
from milestones.models import (
    DEFAULT_CATEGORIES,
    KPI,
    Checkpoint,
    Dependency,
    KPIMeasurement,
    Milestone,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
    StrategicObjective,
)
from portal import audit
from portal.audit import bulk_create_with_history
from portal.errors import Conflict, Invalid
from portal.kernel import set_history_user

BATCH = 500
MAX_MILESTONES = 1_000_000
MAX_HISTORY_ROWS = 20_000_000
REVISION_CHUNK = 250
REVISION_NOTES = (
    "Steering committee asked for a fortnightly written update.",
    "Regional leads now brief their teams after each steering meeting.",
    "Progress is shared in the monthly town hall as well.",
    "Updates go to the works council once a quarter.",
)
HISTORY_DAYS = 84
DEPENDENCY_WINDOW = 40
CENT = Decimal("0.01")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")

# (code, name, ((country code, name, (site names...)), ...))
REGIONS = (
    (
        "emea",
        "EMEA",
        (
            ("uk", "United Kingdom", ("London", "Manchester", "Edinburgh")),
            ("de", "Germany", ("Munich", "Hamburg", "Frankfurt")),
            ("fr", "France", ("Paris", "Lyon", "Toulouse")),
            ("es", "Spain", ("Madrid", "Barcelona")),
            ("it", "Italy", ("Milan", "Rome")),
            ("nl", "Netherlands", ("Amsterdam", "Eindhoven")),
            ("se", "Sweden", ("Stockholm", "Gothenburg")),
            ("pl", "Poland", ("Warsaw", "Krakow")),
            ("ae", "United Arab Emirates", ("Dubai",)),
            ("za", "South Africa", ("Johannesburg", "Cape Town")),
        ),
    ),
    (
        "apac",
        "APAC",
        (
            ("jp", "Japan", ("Tokyo", "Osaka")),
            ("sg", "Singapore", ("Singapore",)),
            ("au", "Australia", ("Sydney", "Melbourne")),
            ("in", "India", ("Bangalore", "Pune", "Chennai")),
            ("kr", "South Korea", ("Seoul",)),
            ("cn", "China", ("Shanghai", "Shenzhen")),
        ),
    ),
    (
        "amer",
        "AMER",
        (
            ("us", "United States", ("New York", "Chicago", "Austin")),
            ("ca", "Canada", ("Toronto", "Montreal")),
            ("br", "Brazil", ("Sao Paulo", "Curitiba")),
            ("mx", "Mexico", ("Monterrey", "Mexico City")),
            ("ar", "Argentina", ("Buenos Aires",)),
        ),
    ),
)

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Noor",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Yara",
    "Zoe",
    "Arjun",
    "Bea",
    "Carlos",
    "Dana",
    "Emil",
]
LAST_NAMES = [
    "Adeyemi",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Laurent",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
]

THEMES = (
    ("AI Transformation", "Embed AI in how the company works"),
    ("Value Creation", "Deliver the investors' value creation plan"),
    ("Digital Operations", "Automate and digitise core operations"),
    ("Customer Experience", "Make every customer journey effortless"),
    ("Supply Chain Resilience", "Secure supply and cut inventory"),
    ("Sustainability", "Halve emissions by the end of the decade"),
    ("Cost Excellence", "Bring costs to top-quartile level"),
    ("Growth Markets", "Win share in new markets"),
)
OBJECTIVES = (
    "Grow revenue in priority markets",
    "Lift operating margin",
    "Automate core processes",
    "Build lasting capabilities",
    "Improve customer satisfaction",
    "Reduce operational risk",
    "Cut working capital",
    "Scale the shared platform",
)
CATEGORY_POOL = (
    ("Foundation", "Strategic"),
    ("Quick Wins", "Immediate"),
    ("Growth Initiatives", "Revenue growth"),
    ("Financial Performance", "Financial"),
    ("Operational Excellence", "Efficiency"),
    ("Technology Deployment", "Operational"),
    ("People and Change", "Capability"),
    ("Compliance", "Risk reduction"),
)
ACTIONS = (
    "Deploy",
    "Launch",
    "Complete",
    "Validate",
    "Roll out",
    "Integrate",
    "Automate",
    "Pilot",
    "Scale",
    "Certify",
    "Migrate",
    "Optimise",
)
SUBJECTS = (
    "demand forecasting",
    "invoice automation",
    "customer service assistant",
    "data platform",
    "procurement analytics",
    "quality inspection",
    "dynamic pricing",
    "ERP template",
    "partner portal",
    "workforce planning",
    "predictive maintenance",
    "fraud detection",
    "document processing",
    "sales copilot",
    "energy monitoring",
    "talent academy",
    "supplier onboarding",
    "cash collection",
    "route optimisation",
    "product line launch",
)
METRICS = (
    ("cycle time", "down"),
    ("cost per transaction", "down"),
    ("customer satisfaction", "up"),
    ("forecast accuracy", "up"),
    ("error rate", "down"),
    ("revenue", "up"),
    ("adoption", "up"),
)
RISKS = (
    "Data quality in source systems",
    "Key staff availability",
    "Vendor delivery delays",
    "Budget pressure in the next planning round",
    "Regulatory changes",
    "Resistance from affected teams",
    "Integration complexity with legacy systems",
)
VALIDATIONS = (
    "Sponsor sign-off against the success criteria",
    "Finance confirms the measured benefit",
    "Internal audit samples the results",
    "Process owner acceptance after a parallel run",
    "External certification body report",
)
ROLES = (
    "Programme manager",
    "Data scientist",
    "Integration engineer",
    "Process analyst",
    "Change manager",
    "Financial analyst",
    "Trainer",
    "Platform engineer",
)
ACHIEVEMENTS = (
    "Planned increment delivered and reviewed with the sponsor.",
    "Workshops held with the business owners.",
    "Build and test finished for this stage.",
    "Users trained and feedback collected.",
    "Measurements refreshed for the steering committee.",
)
BLOCKERS = (
    "Waiting for data access approval.",
    "Vendor resources moved to another client.",
    "Key stakeholder unavailable for decisions.",
    "Test environment unstable.",
    "Scope change under discussion.",
)
NEXT_STEPS = (
    "Start the next increment.",
    "Prepare the steering committee update.",
    "Run user acceptance tests.",
    "Agree measurement with Finance.",
)
KPI_POOL = (
    ("Adoption rate", KPI.Kind.LEADING, "%", 10, 80, KPI.Direction.HIGHER),
    ("Cycle time", KPI.Kind.LAGGING, "days", 12, 6, KPI.Direction.LOWER),
    ("Cost savings", KPI.Kind.LAGGING, "EUR k", 0, 5000, KPI.Direction.HIGHER),
    ("Employees trained", KPI.Kind.LEADING, "people", 0, 1500, KPI.Direction.HIGHER),
    ("Error rate", KPI.Kind.LAGGING, "%", 8, 2, KPI.Direction.LOWER),
    ("Customer satisfaction", KPI.Kind.LAGGING, "score", 62, 80, KPI.Direction.HIGHER),
    ("Stakeholder resistance", KPI.Kind.LEADING, "%", 45, 15, KPI.Direction.LOWER),
)
DEPENDENCY_TYPES = (("FS", 80), ("SS", 10), ("FF", 8), ("SF", 2))


@dataclass(frozen=True)
class DatasetOptions:
    """What to generate; see the ``generate_dataset`` command for the meaning."""

    milestones: int
    seed: int = 1
    portfolios: int | None = None
    updates_per_milestone: int = 4
    risks: int = 0
    history_rows: int = 0
    as_of: date | None = None
    prefix: str | None = None
    password: str | None = None


@dataclass
class DatasetContext:
    """What a generated dataset consists of, for extension hooks.

    ``devdata.dataset_risks.generate_risks(context, count)`` receives it
    (``rng(name)`` gives it its own seeded stream).
    """

    options: DatasetOptions
    prefix: str
    as_of: date
    root: OrgUnit | None = None
    units: dict[str, OrgUnit] = field(default_factory=dict)
    users: dict[str, list[User]] = field(default_factory=dict)
    central: list[User] = field(default_factory=list)
    portfolios: list[Portfolio] = field(default_factory=list)
    milestone_ids: dict[int, list[int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    log: Callable[[str], None] = print

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.options.seed}:{name}")

    def add(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def default_portfolios(milestones: int) -> int:
    """About 500 milestones per portfolio, at most 50 portfolios."""
    return max(1, min(50, -(-milestones // 500)))


def validate(options: DatasetOptions) -> None:
    """Refuse options that cannot produce a dataset (``Invalid``)."""
    for name in (
        "milestones",
        "seed",
        "updates_per_milestone",
        "risks",
        "history_rows",
    ):
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool):
            flag = "--" + name.replace("_", "-")
            raise Invalid(f"{flag} must be a whole number, not {value!r}.")
    if not 1 <= options.milestones <= MAX_MILESTONES:
        raise Invalid(f"--milestones must be from 1 to {MAX_MILESTONES:,}.")
    if options.seed < 0:
        raise Invalid("--seed must be 0 or more.")
    if options.portfolios is not None and not (
        1 <= options.portfolios <= options.milestones
    ):
        raise Invalid("--portfolios must be from 1 to the number of milestones.")
    if not 0 <= options.updates_per_milestone <= 52:
        raise Invalid("--updates-per-milestone must be from 0 to 52.")
    if options.risks < 0:
        raise Invalid("--risks must be 0 or more.")
    if not 0 <= options.history_rows <= MAX_HISTORY_ROWS:
        raise Invalid(f"--history-rows must be from 0 to {MAX_HISTORY_ROWS:,}.")
    if options.as_of is not None and options.as_of > timezone.localdate():
        raise Invalid("--as-of cannot be in the future: updates would be too.")
    prefix = options.prefix if options.prefix is not None else f"ds{options.seed}"
    if not PREFIX_RE.match(prefix):
        raise Invalid(
            "--prefix must be a lowercase letter then up to 11 letters or digits."
        )


def namespace(options: DatasetOptions) -> str:
    return options.prefix if options.prefix is not None else f"ds{options.seed}"


def namespace_in_use(prefix: str) -> bool:
    return (
        OrgUnit.objects.filter(code__startswith=f"{prefix}-").exists()
        or Portfolio.objects.filter(slug__startswith=f"{prefix}-").exists()
        or User.objects.filter(username__startswith=f"{prefix}-").exists()
    )


def generate(
    options: DatasetOptions, *, log: Callable[[str], None] = print
) -> DatasetContext:
    """Build the dataset in one transaction; returns what was created."""
    validate(options)
    prefix = namespace(options)
    ctx = DatasetContext(
        options=options,
        prefix=prefix,
        as_of=options.as_of or timezone.localdate(),
        log=log,
    )
    started = clock.monotonic()

    def step(message: str) -> None:
        log(f"[{clock.monotonic() - started:6.1f}s] {message}")

    with transaction.atomic():
        if namespace_in_use(prefix):
            raise Conflict(
                f"The dataset namespace {prefix!r} is already in use (an earlier "
                "run with this seed or prefix). Use another --seed or --prefix, "
                "or start from an empty database."
            )
        _build_org(ctx)
        step(f"org units: {ctx.counts['org units']}")
        _build_users(ctx)
        step(f"users: {ctx.counts['users']} with memberships")
        sizes = _split(options.milestones, options.portfolios)
        for n, size in enumerate(sizes):
            portfolio = _build_portfolio(ctx, n)
            _build_milestones(ctx, portfolio, n, size)
            step(
                f"portfolio {n + 1}/{len(sizes)} {portfolio.slug}: {size} milestones "
                f"({sum(sizes[: n + 1]):,}/{options.milestones:,} done)"
            )
        _build_risks(ctx, step)
        _top_up_history(ctx, step)
    step(
        "done: "
        + ", ".join(f"{n:,} {what}" for what, n in ctx.counts.items() if n)
        + "."
    )
    return ctx


def _split(milestones: int, portfolios: int | None) -> list[int]:
    count = portfolios or default_portfolios(milestones)
    base, extra = divmod(milestones, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


# Organisation and people ---------------------------------------------------


def _build_org(ctx: DatasetContext) -> None:
    """Regions, countries and sites of the namespace under the global unit.

    The organisation is one tree with one global unit: the dataset hangs its
    regions under the existing one (or creates it in an empty database).
    """
    rng = ctx.rng("org")
    prefix = ctx.prefix
    create = account_services.org_unit_create
    root = OrgUnit.objects.filter(kind=OrgUnit.Kind.GLOBAL).order_by("pk").first()
    if root is None:
        root = create(
            actor=None,
            name="Global",
            code="global",
            kind=OrgUnit.Kind.GLOBAL,
            parent=None,
        )
    ctx.root = root
    for region_code, region_name, countries in REGIONS:
        region = create(
            actor=None,
            name=f"{region_name} ({prefix})",
            code=f"{prefix}-{region_code}",
            kind=OrgUnit.Kind.REGION,
            parent=root,
        )
        ctx.units[region.code] = region
        for country_code, country_name, cities in countries:
            country = create(
                actor=None,
                name=country_name,
                code=f"{prefix}-{country_code}",
                kind=OrgUnit.Kind.COUNTRY,
                parent=region,
            )
            country = account_services.org_unit_update(
                actor=None, unit=country, fte_capacity=Decimal(rng.randint(8, 60))
            )
            ctx.units[country.code] = country
            for n, city in enumerate(cities[: rng.randint(1, len(cities))], 1):
                site = create(
                    actor=None,
                    name=city,
                    code=f"{prefix}-{country_code}-{n}",
                    kind=OrgUnit.Kind.SITE,
                    parent=country,
                )
                ctx.units[site.code] = site
    ctx.add("org units", len(ctx.units))


# Central roles: memberships on each portfolio of the dataset, so that they
# see the dataset and nothing else under the shared global unit.
CENTRAL_ROLES = (
    ("pmo", Role.PORTFOLIO_MANAGER, None),
    ("exec1", Role.EXECUTIVE, Decimal("250000")),
    ("exec2", Role.EXECUTIVE, Decimal("2000000")),
    ("auditor", Role.COMPLIANCE_AUDITOR, None),
)


def _build_users(ctx: DatasetContext) -> None:
    """Contributors and owners per country, a PMO per region, central roles."""
    rng = ctx.rng("users")
    prefix = ctx.prefix
    countries = [u for u in ctx.units.values() if u.kind == OrgUnit.Kind.COUNTRY]
    per_country = max(1, min(10, -(-ctx.options.milestones // 5000)))
    wanted: list[tuple[str, str, OrgUnit | None]] = []
    for country in countries:
        for n in range(1, per_country + 1):
            wanted.append((f"{country.code}-contrib{n}", Role.CONTRIBUTOR, country))
            wanted.append((f"{country.code}-owner{n}", Role.MILESTONE_OWNER, country))
    for region in ctx.units.values():
        if region.kind == OrgUnit.Kind.REGION:
            wanted.append((f"{region.code}-pmo", Role.PORTFOLIO_MANAGER, region))
    wanted += [(f"{prefix}-{name}", role, None) for name, role, _ in CENTRAL_ROLES]
    # One hash for everyone: hashing is deliberately slow, and these are
    # benchmark accounts (unusable unless a password was given).
    password = make_password(ctx.options.password)
    users = []
    for username, _role, _unit in wanted:
        user = User(
            username=username,
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            email=f"{username}@dataset.example",
            password=password,
            is_staff=True,
        )
        set_history_user(user, None)
        users.append(user)
    users = bulk_create_with_history(
        users, User, batch_size=BATCH, default_change_reason="Synthetic dataset"
    )
    for user, (_username, role, unit) in zip(users, wanted, strict=True):
        if unit is None:
            ctx.central.append(user)
            continue
        account_services.membership_create(
            actor=None, user=user, role=role, org_unit=unit
        )
        ctx.users.setdefault(f"{role}:{unit.code}", []).append(user)
    ctx.add("users", len(users))


def _people(ctx: DatasetContext, unit: OrgUnit, role: str) -> list[User]:
    """Users with ``role`` on ``unit`` or its nearest ancestor that has some."""
    path = [p for p in unit.path.split("/") if p]
    for code in reversed(path):
        found = ctx.users.get(f"{role}:{code}")
        if found:
            return found
    return ctx.central[:1]


# Portfolios ----------------------------------------------------------------


def _build_portfolio(ctx: DatasetContext, n: int) -> Portfolio:
    rng = ctx.rng(f"portfolio:{n}")
    theme, purpose = THEMES[n % len(THEMES)]
    regions = [u for u in ctx.units.values() if u.kind == OrgUnit.Kind.REGION]
    # Every third portfolio is regional; the others span the organisation.
    assert ctx.root is not None  # the org units are built first
    unit = regions[n % len(regions)] if n % 3 == 2 else ctx.root
    # Roughly half of the plan lies in the past.
    start = ctx.as_of - timedelta(days=rng.randint(200, 500))
    end = ctx.as_of + timedelta(days=rng.randint(200, 600))
    slug = f"{ctx.prefix}-{theme.lower().replace(' ', '-')}-{n + 1:02d}"
    portfolio = services.portfolio_create(
        actor=None,
        slug=slug,
        name=f"{theme} {n + 1:02d}",
        description=f"{purpose}. Synthetic portfolio {n + 1} of dataset {ctx.prefix}.",
        org_unit=unit,
        sponsor=rng.choice(
            [
                u
                for u, (_, role, _) in zip(ctx.central, CENTRAL_ROLES, strict=True)
                if role == Role.EXECUTIVE
            ]
        ),
        period_start=start,
        period_end=end,
        categories=_categories(rng),
    )
    for k, title in enumerate(rng.sample(OBJECTIVES, rng.randint(3, 5)), 1):
        services.objective_create(
            actor=None,
            portfolio=portfolio,
            code=f"O{k}",
            title=title,
            description=f"{title} ({portfolio.name}).",
        )
    for user, (_name, role, limit) in zip(ctx.central, CENTRAL_ROLES, strict=True):
        account_services.membership_create(
            actor=None,
            user=user,
            role=role,
            portfolio=portfolio,
            authority_limit=limit,
        )
    ctx.portfolios.append(portfolio)
    ctx.add("portfolios", 1)
    return portfolio


def _categories(rng: random.Random) -> tuple[tuple[str, Decimal, str], ...]:
    """The default five half the time, else 3-6 categories summing to 100."""
    if rng.random() < 0.5:
        return DEFAULT_CATEGORIES
    picked = rng.sample(CATEGORY_POOL, rng.randint(3, 6))
    cuts = sorted(rng.sample(range(1, 20), len(picked) - 1))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]
    return tuple(
        (name, Decimal(share * 5), impact)
        for (name, impact), share in zip(picked, shares, strict=True)
    )


# Milestones and everything hanging off them ---------------------------------


@dataclass
class _Plan:
    """One generated milestone and its story, before it is written."""

    milestone: Milestone
    status: str = Status.NOT_STARTED
    percent: int = 0
    eac: Decimal | None = None
    forecast: date | None = None
    actual_start: date | None = None
    actual_completion: date | None = None
    report_days: list[date] = field(default_factory=list)
    updates: list[ProgressUpdate] = field(default_factory=list)


def _build_milestones(ctx: DatasetContext, portfolio: Portfolio, n: int, size: int):
    rng = ctx.rng(f"milestones:{n}")
    categories = list(portfolio.categories.order_by("order"))
    objectives = list(portfolio.objectives.order_by("code"))
    units = [
        u
        for u in ctx.units.values()
        if u.kind in (OrgUnit.Kind.COUNTRY, OrgUnit.Kind.SITE)
        and u.path.startswith(portfolio.org_unit.path)
    ]
    span = max(30, (portfolio.period_end - portfolio.period_start).days - 14)
    drafts = []
    for _ in range(size):
        start = portfolio.period_start + timedelta(days=rng.randint(0, span - 14))
        finish = min(start + timedelta(days=rng.randint(14, 200)), portfolio.period_end)
        drafts.append((start, finish, rng.random()))
    # Earlier milestones come first, so dependencies run forward in time too.
    drafts.sort()
    plans = []
    for i, (start, finish, _tiebreak) in enumerate(drafts):
        plans.append(
            _plan_milestone(
                ctx, rng, portfolio, n, i, start, finish, categories, objectives, units
            )
        )
    milestones = bulk_create_with_history(
        [p.milestone for p in plans],
        Milestone,
        batch_size=BATCH,
        default_change_reason="Synthetic dataset: planned and reported",
    )
    for plan, saved in zip(plans, milestones, strict=True):
        plan.milestone = saved
    ids = [m.pk for m in milestones]
    ctx.milestone_ids[portfolio.pk] = ids
    ctx.add("milestones", len(ids))
    _build_dependencies(ctx, rng, ids)
    _build_checkpoints_and_allocations(ctx, rng, plans)
    _build_updates(ctx, plans)
    _build_kpis(ctx, rng, portfolio, objectives, plans)


def _plan_milestone(
    ctx, rng, portfolio, n, i, start, finish, categories, objectives, units
) -> _Plan:
    unit = rng.choice(units)
    place = unit.name
    subject = rng.choice(SUBJECTS)
    metric, way = rng.choice(METRICS)
    budget = Decimal(rng.randint(10, 1500) * 1000)
    category = rng.choices(categories, weights=[float(c.weight) for c in categories])[0]
    requires_validation = rng.random() < 0.15
    milestone = Milestone(
        portfolio=portfolio,
        objective=rng.choice(objectives),
        category=category,
        org_unit=unit,
        owner=rng.choice(_people(ctx, unit, Role.MILESTONE_OWNER)),
        code=f"{ctx.prefix}-p{n + 1:02d}-{i + 1:05d}",
        name=f"{rng.choice(ACTIONS)} {subject} in {place}",
        description=f"{subject.capitalize()} for {place}, part of {portfolio.name}.",
        type=rng.choice(Milestone.Type.values),
        success_criteria=(
            f"{subject.capitalize()} live in {place}; {metric} {way} "
            f"{rng.randint(5, 40)} % against the baseline."
        ),
        validation_method=rng.choice(VALIDATIONS) + ".",
        risk_factors="; ".join(rng.sample(RISKS, 2)) + ".",
        stakeholder_impact=f"Teams in {place} change how they work on {subject}.",
        communication_plan="Fortnightly progress report; monthly steering update; "
        "delays over two weeks escalate.",
        technology_required=f"{subject.capitalize()} platform and integrations.",
        business_impact=f"{metric.capitalize()} {way} in {place}.",
        weight=Decimal(rng.choice((1, 1, 1, 1, 2, 3))),
        approved_budget=budget,
        planned_start=start,
        planned_completion=finish,
        requires_validation=requires_validation,
    )
    set_history_user(milestone, None)
    plan = _Plan(milestone)
    _tell_story(ctx, rng, plan)
    _draft_updates(ctx, rng, plan)
    return plan


def _tell_story(ctx: DatasetContext, rng: random.Random, plan: _Plan) -> None:
    """Where the milestone stands on ``as_of`` and when it reported."""
    m, today = plan.milestone, ctx.as_of
    if m.planned_start > today:
        return
    duration = max(1, (m.planned_completion - m.planned_start).days)
    elapsed = (today - m.planned_start).days
    plan.actual_start = min(today, m.planned_start + timedelta(rng.randint(0, 10)))
    roll = rng.random()
    if roll < 0.75:
        factor = rng.uniform(0.9, 1.08)
    elif roll < 0.9:
        factor = rng.uniform(1.08, 1.15)
    else:
        factor = rng.uniform(1.16, 1.6)
    plan.eac = _money(m.approved_budget * Decimal(str(round(factor, 3))))
    delay = 0
    if elapsed >= duration and rng.random() < 0.8:
        done = m.planned_completion + timedelta(rng.randint(-10, 20))
        done = max(plan.actual_start, min(done, today - timedelta(1)))
        plan.percent = 100
        if m.requires_validation and rng.random() < 0.4:
            plan.status = Status.PENDING_VALIDATION
            last = today - timedelta(rng.randint(1, 13))
        else:
            plan.status = Status.COMPLETED
            plan.actual_completion = last = done
        delay = max(0, (done - m.planned_completion).days)
    else:
        share = min(1.0, elapsed / duration)
        plan.percent = max(1, min(99, round(share * 100 * rng.uniform(0.6, 1.1))))
        roll = rng.random()
        if elapsed >= duration:
            plan.status = Status.DELAYED
            delay = elapsed - duration + rng.randint(7, 60)
        elif roll < 0.5:
            plan.status = Status.ON_TRACK
        elif roll < 0.65:
            plan.status = Status.IN_PROGRESS
        elif roll < 0.85:
            plan.status, delay = Status.AT_RISK, rng.randint(1, 14)
        else:
            plan.status, delay = Status.DELAYED, rng.randint(15, 90)
        stale = rng.random() < 0.06
        last = today - timedelta(rng.randint(15, 45) if stale else rng.randint(1, 13))
    last = max(last, plan.actual_start)
    plan.forecast = m.planned_completion + timedelta(delay)
    count = ctx.options.updates_per_milestone
    first = max(plan.actual_start, last - timedelta(HISTORY_DAYS))
    window = (last - first).days
    if count == 0:
        plan.report_days = []
    elif count == 1 or window == 0:
        plan.report_days = [last]
    else:
        steps = min(count - 1, window)
        plan.report_days = sorted(
            {last - timedelta(days=round(window * k / steps)) for k in range(steps + 1)}
        )


def _money(value: Decimal) -> Decimal:
    """An amount rounded to hundreds, with cents for the database."""
    return ((Decimal(value) / 100).quantize(Decimal(1)) * 100).quantize(CENT)


def _build_dependencies(ctx: DatasetContext, rng: random.Random, ids: list[int]):
    """About three links per milestone, always from earlier to later ones."""
    kinds = [kind for kind, _ in DEPENDENCY_TYPES]
    weights = [weight for _, weight in DEPENDENCY_TYPES]
    links = []
    for i in range(1, len(ids)):
        k = min(i, rng.choice((1, 2, 3, 3, 4, 5)))
        for p in sorted(rng.sample(range(max(0, i - DEPENDENCY_WINDOW), i), k)):
            link = Dependency(
                predecessor_id=ids[p],
                successor_id=ids[i],
                type=rng.choices(kinds, weights=weights)[0],
                lag_days=rng.choice((0, 0, 0, 0, 2, 5, 10, -3)),
            )
            set_history_user(link, None)
            links.append(link)
    bulk_create_with_history(
        links, Dependency, batch_size=BATCH, default_change_reason="Dependency added"
    )
    ctx.add("dependencies", len(links))


def _build_checkpoints_and_allocations(ctx, rng, plans: list[_Plan]) -> None:
    checkpoints, allocations = [], []
    for plan in plans:
        m = plan.milestone
        duration = (m.planned_completion - m.planned_start).days
        # One checkpoint and mostly one allocation each: enough for the
        # scheduling and capacity benchmarks, and cheap at scale.
        due = m.planned_start + timedelta(round(duration / 2))
        reached = plan.percent >= 50 and due <= ctx.as_of
        checkpoints.append(
            Checkpoint(
                milestone_id=m.pk,
                name="Mid-point review",
                due_date=due,
                completed_on=min(due + timedelta(rng.randint(0, 5)), ctx.as_of)
                if reached
                else None,
            )
        )
        for role in rng.sample(ROLES, 2 if rng.random() < 0.25 else 1):
            allocations.append(
                ResourceAllocation(
                    milestone_id=m.pk,
                    org_unit_id=m.org_unit_id,
                    role=role,
                    fte=Decimal(rng.choice(("0.25", "0.5", "1", "1.5", "2", "3"))),
                )
            )
    for objs, model in ((checkpoints, Checkpoint), (allocations, ResourceAllocation)):
        for obj in objs:
            set_history_user(obj, None)
        bulk_create_with_history(objs, model, batch_size=BATCH)
    ctx.add("checkpoints", len(checkpoints))
    ctx.add("allocations", len(allocations))


def _at(day: date, rng: random.Random) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(rng.randint(8, 17), 0)))


def _draft_updates(ctx: DatasetContext, rng: random.Random, plan: _Plan) -> None:
    """The milestone's progress reports, and its state after the last one."""
    m = plan.milestone
    if not plan.report_days:
        return
    authors = _people(ctx, m.org_unit, Role.CONTRIBUTOR) + _people(
        ctx, m.org_unit, Role.MILESTONE_OWNER
    )
    # A milestone with reports has its forecast and estimate (_tell_story).
    assert plan.forecast is not None and plan.eac is not None
    count = len(plan.report_days)
    delay = (plan.forecast - m.planned_completion).days
    for k, day in enumerate(plan.report_days):
        share = Decimal(k + 1) / Decimal(count)
        last = k == count - 1
        eac = _money(m.approved_budget + (plan.eac - m.approved_budget) * share)
        percent = Decimal(round(plan.percent * share))
        status = plan.status if last else _on_the_way(plan.status, k, count)
        update = ProgressUpdate(
            author=rng.choice(authors),
            submitted_at=_at(day, rng),
            status=status,
            percent_complete=percent,
            actual_spend=_money(eac * percent / 100),
            estimate_at_completion=eac,
            forecast_completion=_forecast(m, delay * float(share), status, day),
            achievements=rng.choice(ACHIEVEMENTS),
            blockers=rng.choice(BLOCKERS)
            if status in (Status.AT_RISK, Status.DELAYED)
            else "",
            next_steps=rng.choice(NEXT_STEPS),
            milestone_version=k + 1,
        )
        set_history_user(update, update.author)
        plan.updates.append(update)
    # The milestone is written as it stands after its last report, exactly as
    # milestone_submit_update would have left it.
    final = plan.updates[-1]
    m.status = final.status
    m.percent_complete = final.percent_complete
    m.actual_spend = final.actual_spend
    m.estimate_at_completion = final.estimate_at_completion
    m.forecast_completion = final.forecast_completion
    m.last_progress_at = final.submitted_at
    m.actual_start = plan.actual_start
    m.actual_completion = plan.actual_completion
    m.version = count + 1


def _forecast(m: Milestone, delay: float, status: str, day: date) -> date:
    """The forecast a report gives: an open milestone never finishes in the past."""
    forecast = max(m.planned_start, m.planned_completion + timedelta(round(delay)))
    if status not in (Status.COMPLETED, Status.PENDING_VALIDATION):
        forecast = max(forecast, day + timedelta(7))
    return forecast


def _build_updates(ctx, plans: list[_Plan]) -> None:
    updates = []
    for plan in plans:
        for update in plan.updates:
            update.milestone_id = plan.milestone.pk
            updates.append(update)
    bulk_create_with_history(updates, ProgressUpdate, batch_size=BATCH)
    ctx.add("progress updates", len(updates))


def _on_the_way(final: str, k: int, count: int) -> str:
    """Earlier reports of a troubled milestone look better than the last."""
    if final in (Status.DELAYED, Status.AT_RISK) and k >= count - 2:
        return Status.AT_RISK
    if final == Status.IN_PROGRESS:
        return Status.IN_PROGRESS
    return Status.ON_TRACK


def _build_kpis(ctx, rng, portfolio, objectives, plans: list[_Plan]) -> None:
    kpis = []
    anchors: list[tuple[StrategicObjective | None, Milestone | None]] = [
        (o, None) for o in objectives
    ]
    anchors += [(None, p.milestone) for p in plans if rng.random() < 0.1]
    # Three distinct portfolio-level KPIs, then one per anchor.
    chosen = rng.sample(KPI_POOL, 3) + [rng.choice(KPI_POOL) for _ in anchors]
    anchors = [(None, None)] * 3 + anchors
    for (objective, milestone), definition in zip(anchors, chosen, strict=True):
        name, kind, unit, baseline, target, direction = definition
        label = milestone.name if milestone else objective or portfolio.name
        kpi = KPI(
            portfolio=portfolio,
            objective=objective,
            milestone=milestone,
            name=f"{name}: {label}"[:200],
            kind=kind,
            unit=unit,
            direction=direction,
            baseline=Decimal(baseline),
            target=Decimal(target),
        )
        set_history_user(kpi, None)
        kpis.append(kpi)
    kpis = bulk_create_with_history(kpis, KPI, batch_size=BATCH)
    measurements = []
    points = HISTORY_DAYS // 14
    for kpi in kpis:
        reached = Decimal(str(round(rng.uniform(0.1, 0.9), 2)))
        for j in range(points + 1):
            progress = reached * Decimal(j) / Decimal(points)
            value = kpi.baseline + (kpi.target - kpi.baseline) * progress
            measurement = KPIMeasurement(
                kpi=kpi,
                measured_on=ctx.as_of - timedelta(HISTORY_DAYS - 14 * j),
                value=value.quantize(Decimal("0.01")),
            )
            set_history_user(measurement, None)
            measurements.append(measurement)
    bulk_create_with_history(measurements, KPIMeasurement, batch_size=BATCH)
    ctx.add("KPIs", len(kpis))
    ctx.add("KPI measurements", len(measurements))


# Risks (the risks app plugs in later) ---------------------------------------


def _build_risks(ctx: DatasetContext, step) -> None:
    count = ctx.options.risks
    if not count:
        return
    from .dataset_risks import generate_risks

    generate_risks(ctx, count)
    step(f"risks: {count}")


# History top-up ---------------------------------------------------------------


def history_row_count() -> int:
    """Rows in every history table (the audit trail's change sources)."""
    return sum(m._base_manager.count() for m in audit.history_models())


def _top_up_history(ctx: DatasetContext, step) -> None:
    """Revision records on the namespace's milestones until the history
    tables hold ``history_rows`` rows: the communication plan reworded a few
    times, then put back, so each milestone's last record is its current state.
    Chained like every history row; dated when written, like the rest."""
    target = ctx.options.history_rows
    missing = target - history_row_count() if target else 0
    ids = [pk for portfolio_ids in ctx.milestone_ids.values() for pk in portfolio_ids]
    if missing <= 0 or not ids:
        return
    rounds = -(-missing // len(ids))
    history = Milestone.history
    written = 0
    for start in range(0, len(ids), REVISION_CHUNK):
        chunk = list(
            Milestone.objects.filter(pk__in=ids[start : start + REVISION_CHUNK])
        )
        chunk.sort(key=lambda m: m.pk)
        plans = [m.communication_plan for m in chunk]
        for k in range(rounds):
            note = "" if k == rounds - 1 else REVISION_NOTES[k % len(REVISION_NOTES)]
            for m, plan in zip(chunk, plans, strict=True):
                m.communication_plan = f"{plan} {note}" if note else plan
            rows = history.bulk_history_create(
                chunk,
                batch_size=BATCH,
                update=True,
                default_change_reason="Synthetic dataset: plan revised",
            )
            audit.chain_rows(history.model, rows)
            written += len(rows)
        if start // REVISION_CHUNK % 8 == 7:
            step(f"history top-up: {written:,}/{missing:,} revision records")
    ctx.add("revision records", written)
    step(f"history top-up: {written:,} revision records")


# Fingerprint ------------------------------------------------------------------


def digest(prefix: str) -> str:
    """SHA-256 of a namespace's content: names, dates and numbers, no keys."""
    h = hashlib.sha256()

    def feed(rows) -> None:
        # Sorted in Python: database collations order text differently.
        for line in sorted(repr(tuple(row)) for row in rows):
            h.update(line.encode())
            h.update(b"\n")

    slug = f"{prefix}-"
    # The shared global unit's code is not the dataset's: call it "<root>".
    units = OrgUnit.objects.filter(code__startswith=slug)
    feed(
        (code, name, kind, capacity, parent if parent_kind != "global" else "<root>")
        for code, name, kind, capacity, parent, parent_kind in units.values_list(
            "code", "name", "kind", "fte_capacity", "parent__code", "parent__kind"
        )
    )
    feed(
        User.objects.filter(username__startswith=slug).values_list(
            "username", "first_name", "last_name", "email"
        )
    )
    feed(
        User.objects.filter(username__startswith=slug).values_list(
            "username",
            "memberships__role",
            "memberships__org_unit__code",
            "memberships__portfolio__slug",
            "memberships__authority_limit",
        )
    )
    portfolios = Portfolio.objects.filter(slug__startswith=slug)
    feed(
        (slug, name, code if kind != "global" else "<root>", *rest)
        for slug, name, code, kind, *rest in portfolios.values_list(
            "slug",
            "name",
            "org_unit__code",
            "org_unit__kind",
            "sponsor__username",
            "period_start",
            "period_end",
        )
    )
    feed(portfolios.values_list("slug", "categories__name", "categories__weight"))
    feed(portfolios.values_list("slug", "objectives__code", "objectives__title"))
    milestones = Milestone.objects.filter(portfolio__slug__startswith=slug)
    feed(
        milestones.values_list(
            "code",
            "name",
            "portfolio__slug",
            "category__name",
            "objective__code",
            "org_unit__code",
            "owner__username",
            "type",
            "weight",
            "approved_budget",
            "actual_spend",
            "estimate_at_completion",
            "planned_start",
            "planned_completion",
            "forecast_completion",
            "actual_start",
            "actual_completion",
            "status",
            "percent_complete",
            "requires_validation",
            "last_progress_at",
            "version",
            "success_criteria",
        )
    )
    feed(
        Dependency.objects.filter(successor__in=milestones).values_list(
            "predecessor__code", "successor__code", "type", "lag_days"
        )
    )
    feed(
        ProgressUpdate.objects.filter(milestone__in=milestones).values_list(
            "milestone__code",
            "author__username",
            "submitted_at",
            "status",
            "percent_complete",
            "actual_spend",
            "estimate_at_completion",
            "forecast_completion",
            "milestone_version",
        )
    )
    feed(
        Checkpoint.objects.filter(milestone__in=milestones).values_list(
            "milestone__code", "name", "due_date", "completed_on"
        )
    )
    feed(
        ResourceAllocation.objects.filter(milestone__in=milestones).values_list(
            "milestone__code", "org_unit__code", "role", "fte"
        )
    )
    kpis = KPI.objects.filter(portfolio__in=portfolios)
    feed(
        kpis.values_list(
            "portfolio__slug",
            "name",
            "objective__code",
            "milestone__code",
            "kind",
            "baseline",
            "target",
        )
    )
    feed(
        KPIMeasurement.objects.filter(kpi__in=kpis).values_list(
            "kpi__portfolio__slug",
            "kpi__name",
            "kpi__objective__code",
            "kpi__milestone__code",
            "measured_on",
            "value",
        )
    )
    return h.hexdigest()
