"""Demo data of the milestones app, called by ``seed_demo`` (``seed(...)``).

Two portfolios built from the seed documents: the "AI Transformation
Programme" (the five default categories, the milestones of the AI milestone
tracking framework and its dependency map) and a "Value Creation Plan" with
strategic, financial and operational milestones. Some 40 milestones across
EMEA, APAC and AMER carry every template field, checkpoints, FTE allocations,
KPIs with measurements and twelve weeks of progress updates submitted by the
demo users, so escalations, approvals and dashboards have something to show:
late, over-budget, stale, due-soon, pending-validation and completed ones.

Every write goes through ``milestones.services`` (planning by the demo PMO,
progress by the demo contributors and owners). Dates are relative to today.
History is dated as the story goes (``portal.history_clock``): the plan a week
before the first report, each report and KPI measurement on its day.
Running it again creates nothing: rows are keyed by natural keys (portfolio
slug, objective code, milestone code, checkpoint name, KPI name, ...), and
progress updates and KPI measurements are only written for a milestone or KPI
that has none yet.

Past progress reports are dated with the ``submitted_at`` keyword of
``services.milestone_submit_update`` (system use: never in the future, never
before the previous report), and their history rows carry the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from milestones import services
from milestones.models import (
    KPI,
    Dependency,
    Milestone,
    Portfolio,
    ProgressUpdate,
    Status,
)
from portal.history_clock import recorded_at

# How far back the demo's progress history reaches, and when the plan was made.
HISTORY_DAYS = 84
PLANNED_DAYS_AGO = HISTORY_DAYS + 7
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Story:
    """How a demo milestone has gone so far, as of today.

    ``status`` and ``percent`` are where it stands after its last report,
    ``eac`` the estimate at completion as a share of the budget, ``delay`` the
    forecast slip in days, ``last`` how many days ago the last report came in,
    ``every`` the reporting cadence in days.
    """

    status: str = Status.NOT_STARTED
    percent: int = 0
    eac: str = "1.00"
    delay: int = 0
    last: int = 0
    every: int = 14
    blocker: str = ""


PLANNED = Story()


def done(last: int, eac: str = "0.97", delay: int = 0) -> Story:
    """Completed ``last`` days ago, ``delay`` days after the planned date."""
    return Story(Status.COMPLETED, 100, eac, delay, last, 14)


def pending(last: int, eac: str = "0.98") -> Story:
    """Completion reported on a milestone that needs a validator's approval."""
    return Story(Status.COMPLETED, 100, eac, 0, last, 14)


@dataclass(frozen=True)
class Plan:
    """One demo milestone: its template fields, place and story."""

    code: str
    name: str
    category: str
    unit: str
    objective: str
    start: int  # days from today
    finish: int
    budget: int
    success: str
    description: str
    risks: str
    impact: str
    story: Story = PLANNED
    owner: str = "pmo"
    type: str = Milestone.Type.STRATEGIC
    requires_validation: bool = False
    weight: str = "1"
    technology: str = ""
    validation: str = ""
    stakeholders: str = ""


@dataclass(frozen=True)
class KpiPlan:
    """A demo KPI: where it hangs, its definition and how it has moved."""

    name: str
    kind: str
    unit: str
    baseline: str
    target: str
    current: str
    direction: str = KPI.Direction.HIGHER
    objective: str = ""
    milestone: str = ""


@dataclass(frozen=True)
class PortfolioPlan:
    slug: str
    name: str
    description: str
    sponsor: str
    start: int
    end: int
    categories: tuple[tuple[str, Decimal, str], ...]
    objectives: tuple[tuple[str, str, str], ...]
    milestones: tuple[Plan, ...]
    dependencies: tuple[tuple[str, str, str, int], ...]
    kpis: tuple[KpiPlan, ...]
    # Per category: validation method, stakeholder impact, communication
    # plan, technology, checkpoint names, (role, FTE) allocations.
    playbook: dict[str, dict] = field(default_factory=dict)


S = Status
T = Milestone.Type
LEADING, LAGGING = KPI.Kind.LEADING, KPI.Kind.LAGGING
LOWER = KPI.Direction.LOWER

AI_PLAYBOOK = {
    "Foundation": {
        "validation": "Steering committee review of the signed deliverables "
        "against the success criteria; minutes filed in the programme archive.",
        "stakeholders": "Executive committee and business unit heads commit "
        "time and budget; Legal, Risk and HR adopt new responsibilities.",
        "communication": "Fortnightly steering committee update; monthly note to "
        "the executive committee; delays over two weeks escalate to the "
        "transformation steering committee.",
        "technology": "Collaboration workspace, programme tracking in Cairn.",
        "checkpoints": ("Scope and sponsors confirmed", "Draft reviewed", "Sign-off"),
        "roles": (("Programme manager", "1.0"), ("Change manager", "0.5")),
    },
    "Quick Wins": {
        "validation": "Business owner signs the value report: measured KPI "
        "movement against the baseline over four weeks of live use.",
        "stakeholders": "Front-line teams of the pilot sites change daily "
        "routines; customers see faster answers.",
        "communication": "Weekly pilot stand-up; fortnightly progress report to "
        "the regional lead; success stories shared on the intranet.",
        "technology": "Managed ML platform, pilot data extracts, chat channel "
        "integration.",
        "checkpoints": ("Use case and baseline agreed", "Pilot live", "Value report"),
        "roles": (("Data scientist", "2.0"), ("Business analyst", "1.0")),
    },
    "Process Integration": {
        "validation": "Process owner acceptance after a month of parallel run; "
        "internal audit samples the automated controls.",
        "stakeholders": "Process teams move to exception handling; IT operations "
        "takes over run support; auditors review new controls.",
        "communication": "Fortnightly process board; release notes per wave; "
        "blockers open over a week go to the architecture review.",
        "technology": "Integration platform, ERP connectors, MLOps pipeline, "
        "monitoring dashboards.",
        "checkpoints": ("Design approved", "Wave 1 live", "Parallel run signed off"),
        "roles": (("Integration engineer", "2.0"), ("Process analyst", "1.0")),
    },
    "Enterprise Scaling": {
        "validation": "Adoption and reliability metrics reviewed by the CIO "
        "for three consecutive months.",
        "stakeholders": "Every business unit in the region; shared services and "
        "the IT service desk.",
        "communication": "Monthly regional roadshow; quarterly executive report; "
        "adoption dashboard open to all staff.",
        "technology": "Enterprise AI platform, identity and access management, "
        "data catalogue.",
        "checkpoints": ("Rollout plan approved", "First units live", "Region live"),
        "roles": (("Platform engineer", "3.0"), ("Trainer", "1.0")),
    },
    "Optimization": {
        "validation": "Benchmark against the baseline year confirmed by Finance "
        "and an external maturity assessment.",
        "stakeholders": "Centre of excellence and product teams run continuous "
        "improvement cycles.",
        "communication": "Quarterly value review with the executive sponsor; "
        "annual maturity report.",
        "technology": "Model monitoring, experimentation platform, FinOps tooling.",
        "checkpoints": ("Baseline measured", "Improvement cycle 1", "Assessment"),
        "roles": (("MLOps engineer", "1.0"), ("Performance analyst", "0.5")),
    },
}

AI_MILESTONES = (
    # Foundation -----------------------------------------------------------
    Plan(
        "AI-F01",
        "Executive Alignment Achieved",
        "Foundation",
        "global",
        "OBJ-1",
        -180,
        -70,
        120_000,
        "C-suite signs the AI strategy and a three-year investment envelope; "
        "every business unit head names an accountable sponsor.",
        "C-suite consensus on AI strategy and investment commitment.",
        "Competing priorities in the budget round; sponsors with too little "
        "time. Mitigation: CEO-chaired workshop and a fixed steering cadence.",
        "Strategic: unlocks the programme budget and mandate.",
        done(last=72),
        validation="Signed strategy paper and investment decision in the "
        "executive committee minutes.",
    ),
    Plan(
        "AI-F02",
        "AI Governance Framework Established",
        "Foundation",
        "uk",
        "OBJ-1",
        -150,
        -45,
        180_000,
        "AI policy, model risk standard and oversight board approved; every "
        "new AI use case passes the intake review.",
        "Policies, standards and oversight mechanisms in place.",
        "Regulatory guidance still moving; Legal capacity. Mitigation: "
        "principles-based policy with a yearly review.",
        "Strategic: lets use cases go live without case-by-case debate.",
        done(last=47, eac="1.02"),
        owner="owner-emea",
    ),
    Plan(
        "AI-F03",
        "Organizational Readiness Validated",
        "Foundation",
        "de",
        "OBJ-5",
        -140,
        -12,
        150_000,
        "Skills assessment covers 90 % of staff in scope; culture survey and "
        "change readiness score at or above 3.5 of 5.",
        "Skills assessment, culture evaluation and change readiness confirmed.",
        "Survey fatigue and low response rates. Mitigation: short pulse "
        "surveys run through line managers.",
        "Strategic: targets the training budget where the gaps are.",
        pending(last=8),
        owner="owner-emea",
        requires_validation=True,
        validation="Independent HR business partner validates the readiness "
        "score before the milestone counts as complete.",
    ),
    Plan(
        "AI-F04",
        "Technology Architecture Approved",
        "Foundation",
        "us",
        "OBJ-4",
        -150,
        -40,
        260_000,
        "Target architecture for data, models, security and integration "
        "approved by the architecture board; reference stack deployable.",
        "Infrastructure, security and integration architecture finalised.",
        "Legacy integration complexity; security review backlog. Mitigation: "
        "early joint sessions with the CISO office.",
        "Strategic: one reference stack instead of one per project.",
        done(last=25, eac="1.05", delay=15),
        technology="Cloud landing zone, feature store, model registry, API gateway.",
    ),
    Plan(
        "AI-F05",
        "Data Platform Foundation Ready",
        "Foundation",
        "sg",
        "OBJ-4",
        -100,
        10,
        420_000,
        "Governed data platform live with the ten priority data products "
        "catalogued, quality-checked and access-controlled.",
        "The data foundation every quick win and integration depends on.",
        "Source-system data quality; data owner availability.",
        "Operational: shortens data preparation for every use case.",
        Story(S.ON_TRACK, 85, "1.04", 0, last=3, every=10),
        technology="Lakehouse platform, data catalogue, quality monitoring.",
    ),
    # Quick Wins -------------------------------------------------------------
    Plan(
        "AI-Q01",
        "Quick Win Deployments Completed",
        "Quick Wins",
        "fr",
        "OBJ-2",
        -70,
        8,
        300_000,
        "Three low-risk, high-value use cases live in production with at least "
        "200 weekly active users each.",
        "Initial high-value, low-risk AI implementations delivered.",
        "Integration with the CRM lags; user adoption in the branches.",
        "Immediate: visible results that build momentum for the programme.",
        Story(
            S.AT_RISK,
            72,
            "1.08",
            6,
            last=2,
            every=7,
            blocker="CRM integration test environment unavailable for a week.",
        ),
        owner="owner-emea",
        type=T.OPERATIONAL,
    ),
    Plan(
        "AI-Q02",
        "Proof of Value Demonstrated",
        "Quick Wins",
        "uk-london",
        "OBJ-2",
        -60,
        -5,
        220_000,
        "Pilot results show at least 15 % handling-time reduction, validated by "
        "Finance against the agreed baseline.",
        "Measurable business impact from pilot projects validated.",
        "Baseline data disputed by the business; pilot volume too low.",
        "Immediate: the business case for scaling.",
        Story(
            S.DELAYED,
            65,
            "1.10",
            33,
            last=4,
            every=7,
            blocker="Finance has not agreed the baseline; measurement restarted.",
        ),
        owner="owner-emea",
        type=T.FINANCIAL,
    ),
    Plan(
        "AI-Q03",
        "Core Team Capabilities Developed",
        "Quick Wins",
        "jp",
        "OBJ-5",
        -80,
        30,
        190_000,
        "Core team of 25 certified in ML engineering and change management; "
        "two internal trainers accredited.",
        "Internal AI competency and change management skills established.",
        "Attrition of trained staff; training vendor capacity in Japanese.",
        "Strategic: less dependence on external consultants.",
        Story(S.ON_TRACK, 62, "0.98", 0, last=5, every=14),
    ),
    Plan(
        "AI-Q04",
        "Stakeholder Engagement Matured",
        "Quick Wins",
        "us",
        "OBJ-2",
        -65,
        12,
        90_000,
        "Engagement score of key stakeholder groups above 70 %; resistance "
        "below 30 % in the quarterly pulse.",
        "Active participation and buy-in from key organisational segments.",
        "Works council concerns about automation; middle-management fatigue.",
        "Immediate: smoother adoption of every later wave.",
        Story(S.ON_TRACK, 82, "0.95", 0, last=6, every=14),
    ),
    Plan(
        "AI-Q05",
        "Pilot Validation: Customer Service Assistant",
        "Quick Wins",
        "au",
        "OBJ-2",
        -44,
        -3,
        160_000,
        "Assistant answers 40 % of tier-1 queries with a satisfaction score of "
        "4.2 or more over four weeks; clinical-grade review of wrong answers.",
        "Pilot validation gate for the customer service assistant.",
        "Hallucinated answers; privacy review of transcripts.",
        "Immediate: first customer-facing AI service.",
        pending(last=4, eac="0.96"),
        requires_validation=True,
        type=T.OPERATIONAL,
    ),
    Plan(
        "AI-Q06",
        "Skills Building Programme Launched",
        "Quick Wins",
        "br",
        "OBJ-5",
        -110,
        -20,
        70_000,
        "AI literacy course live in three languages; 1,000 employees enrolled.",
        "Skills building for the wider workforce.",
        "Low completion rates. Mitigation: manager-led learning hours.",
        "Strategic: the workforce can use what the programme delivers.",
        done(last=22, eac="0.92"),
    ),
    # Process Integration -----------------------------------------------------
    Plan(
        "AI-P01",
        "Core Deployment: Finance Close Automation",
        "Process Integration",
        "de-munich",
        "OBJ-3",
        -40,
        75,
        480_000,
        "Month-end close shortened from 8 to 5 working days; 70 % of "
        "reconciliations matched automatically.",
        "Core deployment of AI in the finance close process.",
        "ERP upgrade in parallel; licence costs above plan.",
        "Operational: faster close, fewer manual reconciliations.",
        Story(
            S.AT_RISK,
            45,
            "1.24",
            0,
            last=3,
            every=7,
            blocker="Vendor licence uplift not in the approved budget.",
        ),
        owner="owner-emea",
        type=T.FINANCIAL,
        weight="2",
    ),
    Plan(
        "AI-P02",
        "Process Transformation Completed",
        "Process Integration",
        "fr",
        "OBJ-3",
        -5,
        150,
        650_000,
        "Five core processes redesigned with AI steps; cycle time down 30 % and "
        "error rate halved.",
        "Core business processes enhanced with AI capabilities.",
        "Process owners' capacity; change fatigue after the quick wins.",
        "Operational: the largest efficiency lever of the programme.",
        Story(S.IN_PROGRESS, 8, "1.00", 0, last=1),
        owner="owner-emea",
        type=T.OPERATIONAL,
        weight="2",
    ),
    Plan(
        "AI-P03",
        "Capability Scaling: Regional AI Champions",
        "Process Integration",
        "sg",
        "OBJ-5",
        -70,
        60,
        140_000,
        "Network of 40 trained AI champions across APAC business units, each "
        "running one improvement per quarter.",
        "Capability scaling through a champions network.",
        "Champions pulled back to day jobs; no regional sponsor.",
        "Operational: local ownership of AI improvements.",
        Story(S.IN_PROGRESS, 35, "1.00", 0, last=23, every=14),
    ),
    Plan(
        "AI-P04",
        "Supply Chain Forecasting Integrated",
        "Process Integration",
        "us",
        "OBJ-3",
        -80,
        20,
        520_000,
        "Demand forecast accuracy up from 68 % to 80 % at SKU-week level; "
        "forecasts feed replenishment automatically.",
        "AI demand forecasting integrated with planning.",
        "Point-of-sale data feed unreliable; planner trust in the model.",
        "Operational: lower inventory and fewer stock-outs.",
        Story(
            S.DELAYED,
            55,
            "1.19",
            35,
            last=2,
            every=7,
            blocker="Retail data feed outage; model retraining postponed.",
        ),
        type=T.OPERATIONAL,
    ),
    Plan(
        "AI-P05",
        "Intelligent Document Processing Live",
        "Process Integration",
        "jp",
        "OBJ-3",
        -50,
        90,
        310_000,
        "80 % of supplier invoices processed without manual keying at 99 % "
        "field accuracy.",
        "Document processing for accounts payable.",
        "Vertical Japanese layouts; scanning quality at small suppliers.",
        "Operational: invoice processing cost per document halved.",
        Story(S.ON_TRACK, 30, "1.02", 0, last=4, every=14),
        type=T.OPERATIONAL,
    ),
    Plan(
        "AI-P06",
        "Customer Service Process Redesigned",
        "Process Integration",
        "uk",
        "OBJ-3",
        -2,
        100,
        260_000,
        "Assistant embedded in every service channel; first-contact "
        "resolution up 10 points.",
        "Redesign of the customer service process around the validated pilot.",
        "Union consultation on role changes; telephony integration.",
        "Operational: better service at flat headcount.",
        Story(S.IN_PROGRESS, 5, "1.00", 0, last=1),
        owner="owner-emea",
    ),
    # Enterprise Scaling ------------------------------------------------------
    Plan(
        "AI-S01",
        "Enterprise Integration Achieved",
        "Enterprise Scaling",
        "global",
        "OBJ-4",
        160,
        330,
        900_000,
        "AI capabilities integrated across all business units on the shared "
        "platform; 60 % of employees use an AI tool weekly.",
        "AI capabilities seamlessly integrated across business units.",
        "Funding for the scaling phase; platform capacity.",
        "Competitive: AI becomes part of how the company works.",
    ),
    Plan(
        "AI-S02",
        "Enterprise AI Platform Rolled Out in EMEA",
        "Enterprise Scaling",
        "emea",
        "OBJ-4",
        90,
        300,
        700_000,
        "Platform live for all EMEA entities with local data residency.",
        "Regional rollout of the enterprise AI platform.",
        "Data residency rules differ by country.",
        "Competitive: one platform for 14 EMEA entities.",
        owner="owner-emea",
    ),
    Plan(
        "AI-S03",
        "Enterprise AI Platform Rolled Out in APAC",
        "Enterprise Scaling",
        "apac",
        "OBJ-4",
        100,
        320,
        650_000,
        "Platform live for all APAC entities; support in local languages.",
        "Regional rollout of the enterprise AI platform.",
        "Latency to the EU region; local language models.",
        "Competitive: one platform for the APAC entities.",
    ),
    Plan(
        "AI-S04",
        "AI Centre of Excellence Operating",
        "Enterprise Scaling",
        "amer",
        "OBJ-5",
        -20,
        150,
        380_000,
        "Centre of excellence staffed (12 FTE), funding model agreed, intake "
        "and prioritisation process running.",
        "Leadership: a permanent home for AI expertise.",
        "Hiring market for ML engineers; chargeback disputes.",
        "Competitive: sustained delivery capacity.",
        Story(S.IN_PROGRESS, 12, "1.00", 0, last=5, every=10),
    ),
    # Optimization ------------------------------------------------------------
    Plan(
        "AI-O01",
        "Performance Optimization Realized",
        "Optimization",
        "global",
        "OBJ-2",
        330,
        480,
        250_000,
        "Efficiency gains of EUR 12M a year confirmed by Finance.",
        "Measurable efficiency gains and competitive advantages captured.",
        "Benefits double-counted across initiatives.",
        "Innovation: the programme pays for itself.",
        type=T.FINANCIAL,
    ),
    Plan(
        "AI-O02",
        "Sustainable Operations Established",
        "Optimization",
        "emea",
        "OBJ-4",
        300,
        520,
        200_000,
        "Models monitored and retrained automatically; continuous improvement "
        "cycle runs without programme staff.",
        "Self-managing AI systems with continuous improvement cycles.",
        "Run budget not transferred to the business.",
        "Innovation: lasting value after the programme ends.",
        owner="owner-emea",
    ),
    Plan(
        "AI-O03",
        "AI Innovation Pipeline Established",
        "Optimization",
        "amer",
        "OBJ-5",
        150,
        420,
        150_000,
        "Quarterly innovation pipeline with at least five funded experiments.",
        "Innovation: new use cases keep coming after the programme.",
        "Experiments starved of data access.",
        "Innovation: new products and services.",
    ),
    Plan(
        "AI-O04",
        "AI Maturity Level 4 Certified",
        "Optimization",
        "apac",
        "OBJ-4",
        320,
        500,
        80_000,
        "External assessment rates the organisation at maturity level 4 of 5.",
        "Maturity: independent confirmation of the transformation.",
        "Assessment criteria change.",
        "Innovation: credibility with customers and regulators.",
        requires_validation=True,
    ),
)

# (predecessor, successor, type, lag days), following the seed's map:
# Strategic Foundation -> Quick Wins -> Process Integration -> Scaling ->
# Optimization, with the governance and team development rows beneath it.
AI_DEPENDENCIES = (
    ("AI-F01", "AI-F02", "SS", 30),
    ("AI-F01", "AI-F03", "SS", 40),
    ("AI-F01", "AI-F04", "SS", 30),
    ("AI-F04", "AI-F05", "SS", 50),
    ("AI-F01", "AI-Q01", "FS", 0),
    ("AI-F01", "AI-Q04", "FS", 5),
    ("AI-F02", "AI-Q05", "FS", 0),
    ("AI-F02", "AI-Q02", "FF", 0),
    ("AI-Q01", "AI-Q02", "SS", 10),
    ("AI-F03", "AI-Q03", "SS", 60),
    ("AI-F03", "AI-Q06", "SS", 30),
    ("AI-Q01", "AI-P02", "SS", 60),
    ("AI-Q02", "AI-P01", "SS", 20),
    ("AI-Q05", "AI-P01", "FF", 30),
    ("AI-Q06", "AI-P03", "SS", 40),
    ("AI-F04", "AI-P04", "SS", 70),
    ("AI-Q03", "AI-P05", "SS", 30),
    ("AI-Q05", "AI-P06", "FS", 1),
    ("AI-P01", "AI-S01", "FS", 0),
    ("AI-P02", "AI-S01", "FF", 0),
    ("AI-P04", "AI-S01", "FS", 0),
    ("AI-P01", "AI-S02", "FS", 0),
    ("AI-P05", "AI-S03", "FS", 0),
    ("AI-F05", "AI-S03", "FS", 0),
    ("AI-P03", "AI-S04", "SS", 50),
    ("AI-S01", "AI-O01", "FS", 0),
    ("AI-S02", "AI-O02", "FS", 0),
    ("AI-S04", "AI-O03", "FS", 0),
    ("AI-S03", "AI-O04", "FS", 0),
)

AI_KPIS = (
    KpiPlan("AI use cases in production", LAGGING, "use cases", "0", "40", "9"),
    KpiPlan("Employees trained in AI", LEADING, "people", "0", "2000", "1140"),
    KpiPlan("Process cycle time reduction", LAGGING, "%", "0", "30", "11"),
    KpiPlan("Stakeholder resistance", LEADING, "%", "45", "15", "34", direction=LOWER),
    KpiPlan(
        "Sponsors attending steering committees",
        LEADING,
        "%",
        "40",
        "90",
        "85",
        objective="OBJ-1",
    ),
    KpiPlan(
        "AI-driven annual savings",
        LAGGING,
        "EUR k",
        "0",
        "12000",
        "2100",
        objective="OBJ-2",
    ),
    KpiPlan(
        "Pilot handling-time reduction",
        LAGGING,
        "%",
        "0",
        "15",
        "9",
        milestone="AI-Q02",
    ),
    KpiPlan(
        "Month-end close duration",
        LAGGING,
        "days",
        "8",
        "5",
        "6.5",
        direction=LOWER,
        milestone="AI-P01",
    ),
    KpiPlan(
        "Forecast accuracy (SKU-week)",
        LAGGING,
        "%",
        "68",
        "80",
        "72",
        milestone="AI-P04",
    ),
    KpiPlan(
        "Invoices processed touchless",
        LEADING,
        "%",
        "5",
        "80",
        "31",
        milestone="AI-P05",
    ),
)

AI_PORTFOLIO = PortfolioPlan(
    slug="ai-transformation",
    name="AI Transformation Programme",
    description="Enterprise AI implementation: executive alignment and "
    "governance, quick wins and proof of value, integration into core "
    "processes, enterprise scaling and continuous optimisation.",
    sponsor="exec",
    start=-180,
    end=540,
    categories=(
        ("Foundation", Decimal("25"), "Strategic"),
        ("Quick Wins", Decimal("20"), "Immediate"),
        ("Process Integration", Decimal("30"), "Operational"),
        ("Enterprise Scaling", Decimal("20"), "Competitive"),
        ("Optimization", Decimal("5"), "Innovation"),
    ),
    objectives=(
        (
            "OBJ-1",
            "Secure executive commitment and governance for AI",
            "C-suite consensus, investment commitment and an oversight model "
            "that lets AI use cases go live safely.",
        ),
        (
            "OBJ-2",
            "Deliver measurable business value from AI early",
            "High-value, low-risk use cases whose impact Finance confirms.",
        ),
        (
            "OBJ-3",
            "Embed AI in core business processes",
            "Finance, supply chain, document handling and customer service run "
            "with AI steps built in.",
        ),
        (
            "OBJ-4",
            "Scale AI on one enterprise platform",
            "A shared architecture and platform across every region.",
        ),
        (
            "OBJ-5",
            "Build lasting AI skills and culture",
            "Readiness, skills, champions and a centre of excellence.",
        ),
    ),
    milestones=AI_MILESTONES,
    dependencies=AI_DEPENDENCIES,
    kpis=AI_KPIS,
    playbook=AI_PLAYBOOK,
)

VC_PLAYBOOK = {
    "Growth Initiatives": {
        "validation": "Commercial committee confirms signed contracts and "
        "revenue booked in the ERP.",
        "stakeholders": "Sales and marketing teams, channel partners and new "
        "customers in the target markets.",
        "communication": "Monthly growth review with the board; weekly sales "
        "pipeline call; press release at launch.",
        "technology": "CRM, marketing automation, partner portal.",
        "checkpoints": ("Go-to-market plan approved", "Launch", "Target reached"),
        "roles": (("Business developer", "2.0"), ("Marketing lead", "1.0")),
    },
    "Financial Performance": {
        "validation": "CFO confirms the figures from the audited monthly "
        "management accounts.",
        "stakeholders": "Finance, procurement and business unit controllers; "
        "the investors' reporting.",
        "communication": "Monthly finance review; quarterly investor report; "
        "variances over 15 % trigger a financial review.",
        "technology": "ERP, consolidation and planning tools.",
        "checkpoints": ("Baseline agreed", "Half-way review", "Target confirmed"),
        "roles": (("Financial analyst", "1.0"), ("Controller", "0.5")),
    },
    "Operational Excellence": {
        "validation": "Operations director signs off the KPI trend over two "
        "consecutive months.",
        "stakeholders": "Plants, shared services and suppliers change ways of working.",
        "communication": "Fortnightly operations board; site town halls at "
        "each go-live.",
        "technology": "ERP, procurement suite, quality management system.",
        "checkpoints": ("Design complete", "Pilot site live", "All sites live"),
        "roles": (("Operations lead", "1.5"), ("Process analyst", "1.0")),
    },
    "Compliance & Governance": {
        "validation": "External auditor or certification body report.",
        "stakeholders": "Compliance, IT security, internal audit and every "
        "control owner.",
        "communication": "Monthly audit committee update; findings tracked "
        "weekly until closed.",
        "technology": "GRC tool, evidence repository.",
        "checkpoints": ("Gap assessment", "Controls remediated", "Audit passed"),
        "roles": (("Compliance officer", "1.0"), ("Internal auditor", "0.5")),
    },
}

VC_MILESTONES = (
    Plan(
        "VC-G01",
        "Nordic Market Entry Completed",
        "Growth Initiatives",
        "emea",
        "VC-1",
        -90,
        45,
        600_000,
        "Entities in Sweden and Denmark operational; 20 customers signed; "
        "EUR 3M pipeline.",
        "Market expansion into the Nordic countries.",
        "Local hiring; pricing pressure from incumbents.",
        "Revenue growth: new market worth EUR 15M a year at maturity.",
        Story(S.ON_TRACK, 55, "1.03", 0, last=2, every=14),
        owner="owner-emea",
    ),
    Plan(
        "VC-G02",
        "Product Line X Launched",
        "Growth Initiatives",
        "us",
        "VC-1",
        -160,
        -30,
        850_000,
        "Product line X on sale in all US channels with 500 units sold in the "
        "first month.",
        "Launch of the new product line.",
        "Supplier lead times; certification of the new range.",
        "Revenue growth: EUR 8M first-year revenue.",
        done(last=33, eac="0.97"),
    ),
    Plan(
        "VC-G03",
        "Five Strategic Partnerships Secured",
        "Growth Initiatives",
        "sg",
        "VC-1",
        -120,
        6,
        120_000,
        "Five signed partnership agreements with revenue commitments in "
        "Southeast Asia.",
        "Partnership development in APAC.",
        "Two partners stuck in legal review.",
        "Revenue growth: access to 3,000 partner outlets.",
        Story(
            S.AT_RISK,
            80,
            "1.00",
            10,
            last=3,
            every=14,
            blocker="Two agreements still in partners' legal review.",
        ),
    ),
    Plan(
        "VC-G04",
        "Customer Acquisition Programme Delivered",
        "Growth Initiatives",
        "de",
        "VC-1",
        -75,
        -10,
        300_000,
        "2,000 new customers at an acquisition cost of EUR 300 or less.",
        "Customer acquisition for the launched product line.",
        "Campaign performance below plan; agency change.",
        "Revenue growth: customer base up 8 %.",
        Story(
            S.DELAYED,
            70,
            "1.06",
            24,
            last=5,
            every=7,
            blocker="New agency onboarding pushed the second campaign wave.",
        ),
        owner="owner-emea",
    ),
    Plan(
        "VC-G05",
        "Channel Partner Portal Live",
        "Growth Initiatives",
        "jp",
        "VC-1",
        50,
        170,
        260_000,
        "Partner portal live with ordering, pricing and training for all partners.",
        "Digital channel for the new partners.",
        "Integration with partner ordering systems.",
        "Revenue growth: partner orders without manual handling.",
        type=T.OPERATIONAL,
    ),
    Plan(
        "VC-F01",
        "H1 Revenue Target Achieved",
        "Financial Performance",
        "global",
        "VC-2",
        -200,
        -50,
        50_000,
        "H1 revenue of EUR 210M or more, confirmed in the half-year accounts.",
        "Revenue goal for the first half-year.",
        "Currency movements; timing of large deals.",
        "Financial: keeps the plan's growth trajectory.",
        done(last=50, eac="0.90"),
        type=T.FINANCIAL,
    ),
    Plan(
        "VC-F02",
        "Gross Margin Improved by 3 Points",
        "Financial Performance",
        "fr",
        "VC-2",
        -100,
        120,
        400_000,
        "Gross margin from 31 % to 34 % on a rolling three-month basis.",
        "Profitability target through pricing and mix.",
        "Raw material prices; consultant fees above plan.",
        "Financial: EUR 6M a year of extra gross profit.",
        Story(
            S.AT_RISK,
            40,
            "1.28",
            0,
            last=4,
            every=14,
            blocker="Pricing consultants' extension exceeds the budget.",
        ),
        owner="owner-emea",
        type=T.FINANCIAL,
    ),
    Plan(
        "VC-F03",
        "EUR 5M Working Capital Released",
        "Financial Performance",
        "br",
        "VC-2",
        -60,
        90,
        150_000,
        "Working capital down EUR 5M through payment terms and inventory.",
        "Cash flow objective.",
        "Supplier push-back on payment terms.",
        "Financial: cash for the growth initiatives.",
        Story(S.ON_TRACK, 35, "1.00", 0, last=6, every=14),
        type=T.FINANCIAL,
    ),
    Plan(
        "VC-F04",
        "Return Target Validated (IRR of 18 % or more)",
        "Financial Performance",
        "global",
        "VC-2",
        200,
        450,
        80_000,
        "Independent valuation confirms an IRR of at least 18 % on the plan.",
        "Return metrics for the investors.",
        "Market multiples fall.",
        "Financial: exit readiness.",
        type=T.FINANCIAL,
        requires_validation=True,
    ),
    Plan(
        "VC-O01",
        "Procurement Cost Reduction Delivered",
        "Operational Excellence",
        "de-munich",
        "VC-3",
        -120,
        20,
        220_000,
        "Addressable spend reduced by 6 % through tenders and catalogue buying.",
        "Cost reduction in indirect procurement.",
        "Maverick buying; contract renewals out of cycle.",
        "Operational: EUR 4M a year of savings.",
        Story(S.ON_TRACK, 78, "0.96", 0, last=3, every=14),
        owner="owner-emea",
        type=T.OPERATIONAL,
    ),
    Plan(
        "VC-O02",
        "ERP System Implementation Completed",
        "Operational Excellence",
        "au",
        "VC-3",
        -150,
        40,
        1_200_000,
        "One ERP for all APAC entities; legacy systems decommissioned.",
        "System implementation.",
        "Data migration quality; integrator staffing.",
        "Operational: one source of truth for APAC.",
        Story(
            S.DELAYED,
            60,
            "1.17",
            20,
            last=2,
            every=7,
            blocker="Data migration rehearsal failed reconciliation twice.",
        ),
        type=T.OPERATIONAL,
        weight="3",
    ),
    Plan(
        "VC-O03",
        "Quality Improvement Programme Completed",
        "Operational Excellence",
        "jp",
        "VC-3",
        -180,
        -15,
        180_000,
        "Defect rate down 40 % at the two main plants.",
        "Quality enhancements in manufacturing.",
        "Supplier quality.",
        "Operational: lower warranty costs.",
        done(last=16, eac="0.99"),
        type=T.OPERATIONAL,
    ),
    Plan(
        "VC-O04",
        "Shared Services Team Built",
        "Operational Excellence",
        "us",
        "VC-3",
        -45,
        110,
        350_000,
        "Shared services centre staffed with 30 people running AP, AR and "
        "payroll for AMER.",
        "Team building for shared services.",
        "Hiring in a tight labour market.",
        "Operational: lower cost per transaction.",
        Story(S.ON_TRACK, 30, "1.00", 0, last=1, every=14),
        type=T.OPERATIONAL,
    ),
    Plan(
        "VC-C01",
        "ISO 27001 Certification Obtained",
        "Compliance & Governance",
        "uk-london",
        "VC-4",
        -130,
        -2,
        140_000,
        "Certificate issued with no major non-conformity.",
        "Compliance achievement for information security.",
        "Findings on supplier management.",
        "Risk reduction: required by the largest customers.",
        pending(last=6, eac="1.03"),
        owner="owner-emea",
        requires_validation=True,
        type=T.OPERATIONAL,
    ),
    Plan(
        "VC-C02",
        "SOX Controls Remediated",
        "Compliance & Governance",
        "us",
        "VC-4",
        30,
        200,
        260_000,
        "All significant deficiencies closed and tested by internal audit.",
        "Compliance for the US listing.",
        "Control owners' availability.",
        "Risk reduction: clean audit opinion.",
        type=T.OPERATIONAL,
    ),
)

VC_DEPENDENCIES = (
    ("VC-G02", "VC-G04", "SS", 85),
    ("VC-G01", "VC-G05", "FS", 5),
    ("VC-G03", "VC-G05", "FS", 0),
    ("VC-F01", "VC-F04", "FS", 0),
    ("VC-F02", "VC-F04", "FS", 0),
    ("VC-O01", "VC-F02", "FF", 0),
    ("VC-O02", "VC-F03", "FF", 0),
    ("VC-O02", "VC-O04", "SS", 105),
    ("VC-O03", "VC-C01", "SS", 50),
    ("VC-C01", "VC-C02", "FS", 0),
)

VC_KPIS = (
    KpiPlan("Revenue growth", LAGGING, "%", "4", "12", "7.5", objective="VC-1"),
    KpiPlan("EBITDA margin", LAGGING, "%", "14", "18", "15.2", objective="VC-2"),
    KpiPlan(
        "Customer acquisition cost",
        LEADING,
        "EUR",
        "420",
        "300",
        "365",
        direction=LOWER,
        milestone="VC-G04",
    ),
    KpiPlan("Employee retention rate", LEADING, "%", "86", "92", "88.5"),
    KpiPlan(
        "Working capital days",
        LAGGING,
        "days",
        "65",
        "50",
        "59",
        direction=LOWER,
        objective="VC-3",
    ),
    KpiPlan(
        "Open audit findings",
        LEADING,
        "findings",
        "24",
        "0",
        "3",
        direction=LOWER,
        objective="VC-4",
    ),
)

VC_PORTFOLIO = PortfolioPlan(
    slug="value-creation",
    name="Value Creation Plan",
    description="The investors' value creation plan: growth initiatives, "
    "financial targets, operational excellence and compliance milestones.",
    sponsor="exec2",
    start=-240,
    end=480,
    categories=(
        ("Growth Initiatives", Decimal("35"), "Revenue growth"),
        ("Financial Performance", Decimal("30"), "Financial"),
        ("Operational Excellence", Decimal("25"), "Efficiency"),
        ("Compliance & Governance", Decimal("10"), "Risk reduction"),
    ),
    objectives=(
        (
            "VC-1",
            "Grow revenue 12 % a year",
            "New markets, products, customers and partnerships.",
        ),
        ("VC-2", "Lift EBITDA margin to 18 %", "Pricing, mix and cash discipline."),
        (
            "VC-3",
            "Run operations at top-quartile efficiency",
            "Procurement, systems, quality and shared services.",
        ),
        (
            "VC-4",
            "Stay audit-ready",
            "Certifications and controls that customers and investors require.",
        ),
    ),
    milestones=VC_MILESTONES,
    dependencies=VC_DEPENDENCIES,
    kpis=VC_KPIS,
    playbook=VC_PLAYBOOK,
)

DEMO_PORTFOLIOS = (AI_PORTFOLIO, VC_PORTFOLIO)

# People available for milestone work, set where no capacity is recorded yet.
DEMO_CAPACITY = {
    "global": "25",
    "emea": "15",
    "apac": "12",
    "amer": "12",
    "uk": "8",
    "uk-london": "4",
    "de": "6",
    "de-munich": "3",
    "fr": "5",
    "jp": "5",
    "sg": "4",
    "au": "3",
    "us": "10",
    "br": "2",
}

ACHIEVEMENTS = (
    "Workshops held with the business owners; decisions logged.",
    "Deliverables reviewed with the sponsor; comments resolved.",
    "Build and test of the planned increment finished.",
    "Training sessions delivered to the first user group.",
    "Data and measurements refreshed for the steering committee.",
    "Open actions from the last review closed.",
)
NEXT_STEPS = (
    "Prepare the next steering committee update.",
    "Start the next increment and confirm resources.",
    "Run user acceptance with the pilot group.",
    "Agree measurement of the success criteria with Finance.",
)


def seed(units, users, stdout) -> None:
    """Create the demo portfolios and everything in them (idempotent)."""
    today = timezone.localdate()
    counts = {"portfolios": 0, "milestones": 0, "updates": 0}
    with transaction.atomic():
        _set_capacities(units)
        for plan in DEMO_PORTFOLIOS:
            _seed_portfolio(plan, units, users, today, counts)
    stdout.write(
        "Milestones demo: {portfolios} new portfolios, {milestones} new "
        "milestones, {updates} new progress updates.".format(**counts)
    )


def _set_capacities(units) -> None:
    for code, capacity in DEMO_CAPACITY.items():
        unit = units.get(code)
        if unit is not None and unit.fte_capacity is None:
            account_services.org_unit_update(
                actor=None, unit=unit, fte_capacity=Decimal(capacity)
            )


def _seed_portfolio(plan: PortfolioPlan, units, users, today: date, counts) -> None:
    # The plan was made a week before the first report on record: its history
    # (and that of the reports after it) is dated in the past, so an as-of
    # report of a past day shows the demo's past.
    with recorded_at(_at(today - timedelta(days=PLANNED_DAYS_AGO), 0)):
        portfolio, objectives, milestones = _plan_portfolio(
            plan, units, users, today, counts
        )
    for m in plan.milestones:
        counts["updates"] += _report_progress(milestones[m.code], m, users, today)
    _ensure_kpis(plan, portfolio, objectives, milestones, users, today)


def _plan_portfolio(plan: PortfolioPlan, units, users, today: date, counts):
    """The portfolio, its objectives, milestones, checkpoints, allocations and
    dependencies, as the PMO planned them."""
    pmo = users["pmo"]

    def day(offset: int) -> date:
        return today + timedelta(days=offset)

    portfolio = Portfolio.objects.filter(slug=plan.slug).first()
    if portfolio is None:
        portfolio = services.portfolio_create(
            actor=pmo,
            slug=plan.slug,
            name=plan.name,
            description=plan.description,
            org_unit=units["global"],
            sponsor=users[plan.sponsor],
            period_start=day(plan.start),
            period_end=day(plan.end),
            currency="EUR",
            categories=plan.categories,
        )
        counts["portfolios"] += 1
    categories = {c.name: c for c in portfolio.categories.all()}
    objectives = {o.code: o for o in portfolio.objectives.all()}
    for code, title, description in plan.objectives:
        if code not in objectives:
            objectives[code] = services.objective_create(
                actor=pmo,
                portfolio=portfolio,
                code=code,
                title=title,
                description=description,
                owner=users[plan.sponsor],
            )
    milestones = {m.code: m for m in portfolio.milestones.all()}
    for m in plan.milestones:
        if m.code not in milestones:
            milestones[m.code] = _create_milestone(
                m, plan, portfolio, categories, objectives, units, users, day
            )
            counts["milestones"] += 1
        milestone = milestones[m.code]
        _ensure_checkpoints(milestone, m, plan, pmo, day)
        _ensure_allocations(milestone, m, plan, units, pmo)
    _ensure_dependencies(plan, portfolio, milestones, pmo)
    return portfolio, objectives, milestones


def _money(value, step: str = "1") -> Decimal:
    """An amount rounded to ``step`` euros, with cents for the database."""
    unit = Decimal(step)
    rounded = (Decimal(value) / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (rounded * unit).quantize(CENT)


def _create_milestone(
    m: Plan, plan, portfolio, categories, objectives, units, users, day
) -> Milestone:
    book = plan.playbook[m.category]
    return services.milestone_create(
        actor=users["pmo"],
        portfolio=portfolio,
        code=m.code,
        name=m.name,
        description=m.description,
        type=m.type,
        category=categories[m.category],
        objective=objectives[m.objective],
        org_unit=units[m.unit],
        owner=users[m.owner],
        success_criteria=m.success,
        validation_method=m.validation or book["validation"],
        risk_factors=m.risks,
        stakeholder_impact=m.stakeholders or book["stakeholders"],
        communication_plan=book["communication"],
        technology_required=m.technology or book["technology"],
        business_impact=m.impact,
        weight=Decimal(m.weight),
        approved_budget=_money(m.budget),
        planned_start=day(m.start),
        planned_completion=day(m.finish),
        # Work that began before the reports on record started on plan.
        actual_start=day(m.start) if m.story.status != Status.NOT_STARTED else None,
        requires_validation=m.requires_validation,
    )


def _ensure_checkpoints(milestone: Milestone, m: Plan, plan, actor, day) -> None:
    names = plan.playbook[m.category]["checkpoints"]
    existing = set(milestone.checkpoints.values_list("name", flat=True))
    span = m.finish - m.start
    for n, name in enumerate(names, start=1):
        if name in existing:
            continue
        share = n / (len(names) + 1) if n < len(names) else 0.95
        due = m.start + round(span * share)
        reached = m.story.percent >= share * 100 and due <= -m.story.last
        services.checkpoint_create(
            actor=actor,
            milestone=milestone,
            name=name,
            due_date=day(due),
            completed_on=day(min(due + 2, -m.story.last)) if reached else None,
            notes=f"{name} for {m.name}.",
        )


def _ensure_allocations(milestone: Milestone, m: Plan, plan, units, actor) -> None:
    existing = set(milestone.allocations.values_list("org_unit__code", "role"))
    # Bigger budgets get more people, within reason.
    scale = Decimal(max(1, min(3, m.budget // 250_000 + 1)))
    local = units[m.unit]
    central = units["global"] if m.unit != "global" else units["emea"]
    roles = plan.playbook[m.category]["roles"]
    for (role, fte), unit in zip(roles, (local, central), strict=False):
        if (unit.code, role) in existing:
            continue
        services.allocation_create(
            actor=actor,
            milestone=milestone,
            org_unit=unit,
            role=role,
            fte=Decimal(fte) * scale if unit is local else Decimal(fte),
        )


def _ensure_dependencies(plan: PortfolioPlan, portfolio, milestones, actor) -> None:
    existing = set(
        Dependency.objects.filter(successor__portfolio=portfolio).values_list(
            "predecessor__code", "successor__code"
        )
    )
    for pred, succ, kind, lag in plan.dependencies:
        if (pred, succ) in existing:
            continue
        services.dependency_add(
            actor=actor,
            predecessor=milestones[pred],
            successor=milestones[succ],
            type=kind,
            lag_days=lag,
        )


# The demo org units by region, to pick who reports on a milestone.
DEMO_REGION = {
    "emea": "emea",
    "uk": "emea",
    "uk-london": "emea",
    "de": "emea",
    "de-munich": "emea",
    "fr": "emea",
    "apac": "apac",
    "jp": "apac",
    "sg": "apac",
    "au": "apac",
    "amer": "amer",
    "us": "amer",
    "br": "amer",
}


def _author(m: Plan, users, n: int):
    """Who reports on a milestone: the regional team, or the PMO centrally."""
    region = DEMO_REGION.get(m.unit)
    if region == "emea":
        return users["contributor-emea"] if n % 2 == 0 else users["owner-emea"]
    if region == "apac":
        return users["contributor-apac"]
    return users["pmo"]


def _report_days(m: Plan) -> list[int]:
    """Days ago of each progress report, oldest first, within twelve weeks."""
    story = m.story
    if story.status == Status.NOT_STARTED:
        return []
    first = min(HISTORY_DAYS, -m.start)
    days = []
    ago = story.last
    while ago <= first:
        days.append(ago)
        ago += story.every
    return sorted(days, reverse=True)


def _report_progress(milestone: Milestone, m: Plan, users, today: date) -> int:
    """Submit the milestone's past reports, unless it already has some."""
    days = _report_days(m)
    if not days or ProgressUpdate.objects.filter(milestone=milestone).exists():
        return 0
    story = m.story
    budget = Decimal(m.budget)
    planned = today + timedelta(days=m.finish)
    version = milestone.version
    count = len(days)
    for n, ago in enumerate(days, start=1):
        share = Decimal(n) / Decimal(count)
        last = n == count
        percent = (Decimal(story.percent) * share).quantize(Decimal(1))
        eac = _money(budget * (1 + (Decimal(story.eac) - 1) * share), "100")
        status: str
        if story.status == Status.COMPLETED and last:
            status, percent, spend = Status.COMPLETED, Decimal(100), eac
        else:
            status = _status_on_the_way(story, n, count)
            spend = _money(eac * percent / 100, "100")
        forecast = planned + timedelta(days=round(story.delay * float(share)))
        submitted = _at(today - timedelta(days=ago), n)
        with recorded_at(submitted):
            update = services.milestone_submit_update(
                actor=_author(m, users, n),
                milestone=milestone,
                expected_version=version,
                status=status,
                percent_complete=percent,
                actual_spend=spend,
                estimate_at_completion=eac,
                forecast_completion=max(forecast, milestone.planned_start),
                achievements=ACHIEVEMENTS[(n + len(m.code)) % len(ACHIEVEMENTS)],
                blockers=story.blocker if last or n == count - 1 else "",
                next_steps=(
                    "Hand over to operations and close the milestone."
                    if status == Status.COMPLETED
                    else NEXT_STEPS[n % len(NEXT_STEPS)]
                ),
                submitted_at=submitted,
            )
        version = update.milestone.version
    return count


def _status_on_the_way(story: Story, n: int, count: int) -> str:
    """Earlier reports look better than the latest one of a troubled milestone."""
    if n == count:
        return story.status if story.status != Status.COMPLETED else Status.ON_TRACK
    if story.status in (Status.DELAYED, Status.AT_RISK) and n >= count - 1:
        return Status.AT_RISK
    if story.status == Status.IN_PROGRESS:
        return Status.IN_PROGRESS
    return Status.ON_TRACK


def _at(day: date, n: int) -> datetime:
    """A plausible office-hours time on ``day`` (never in the future)."""
    moment = timezone.make_aware(datetime.combine(day, time(9 + n % 8, 15)))
    return min(moment, timezone.now())


def _ensure_kpis(plan, portfolio, objectives, milestones, users, today) -> None:
    existing = {k.name: k for k in portfolio.kpis.all()}
    pmo = users["pmo"]
    for k in plan.kpis:
        kpi = existing.get(k.name)
        if kpi is None:
            with recorded_at(_at(today - timedelta(days=PLANNED_DAYS_AGO), 1)):
                kpi = services.kpi_create(
                    actor=pmo,
                    portfolio=portfolio,
                    objective=objectives[k.objective] if k.objective else None,
                    milestone=milestones[k.milestone] if k.milestone else None,
                    name=k.name,
                    kind=k.kind,
                    unit=k.unit,
                    direction=k.direction,
                    baseline=Decimal(k.baseline),
                    target=Decimal(k.target),
                )
        if kpi.measurements.exists():
            continue
        plan_m = next((m for m in plan.milestones if m.code == k.milestone), None)
        recorder = _author(plan_m, users, 0) if plan_m else pmo
        baseline, current = Decimal(k.baseline), Decimal(k.current)
        points = HISTORY_DAYS // 14
        for n in range(points + 1):
            value = baseline + (current - baseline) * Decimal(n) / Decimal(points)
            measured_on = today - timedelta(days=HISTORY_DAYS - 14 * n)
            with recorded_at(_at(measured_on, 2)):
                services.kpi_record(
                    actor=recorder,
                    kpi=kpi,
                    measured_on=measured_on,
                    value=value.quantize(Decimal("0.1")),
                    note="Baseline" if n == 0 else "",
                )
