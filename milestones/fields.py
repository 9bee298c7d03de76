"""Every field of a milestone, declared once by what it is for (#16).

The services, the admin and its forms, the API's serializers, the import and
the approval requests read these groups instead of keeping lists of their
own. A new field goes on the model and into one group here; ``tests/
milestones/test_fields.py`` fails while a model field is in none (or two).

- ``FIXED``: set when the milestone is created, never moved (its portfolio).
- ``EDITABLE``: the plan's details; planners set them, the owner may edit
  them, except ``SCOPE`` (moving the milestone needs plan-change rights) and
  ``GATE`` (whether completion needs validation: plan changers only, and once
  a validation is pending or past, only through an approved request).
- ``BASELINE``: what the plan was approved at; set at creation, then changed
  only through an approved request (``approvals.services.approval_decide``).
- ``REPORTED``: what a progress update reports; ``EXECUTION`` adds what the
  completion records. Changed by progress updates only.
- ``SYSTEM``: kept by the system (identity, optimistic-lock version,
  timestamps).
"""

from __future__ import annotations

FIXED = ("portfolio",)
SCOPE = ("org_unit", "owner", "category", "objective")
GATE = "requires_validation"
EDITABLE = (
    "name",
    "code",
    "description",
    "objective",
    "category",
    "org_unit",
    "owner",
    "type",
    "validation_method",
    "risk_factors",
    "stakeholder_impact",
    "communication_plan",
    "technology_required",
    "business_impact",
    GATE,
    "actual_start",
)
BASELINE = (
    "approved_budget",
    "planned_start",
    "planned_completion",
    "success_criteria",
    "weight",
)
REPORTED = (
    "status",
    "percent_complete",
    "actual_spend",
    "estimate_at_completion",
    "forecast_completion",
)
EXECUTION = (*REPORTED, "actual_completion")
SYSTEM = ("id", "version", "last_progress_at", "created_at", "updated_at")

#: What creating a milestone sets (besides its portfolio).
PLAN = (*EDITABLE, *BASELINE)
#: What an approval request may change, as ``new_<field>`` on the request.
REQUESTABLE = (*BASELINE, GATE)
