from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Approval requests and decisions: reauthorizations, baseline changes
    and the completion gate's validations, above the planning app."""

    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # The completion gate's receiver (milestones.signals) lives with the
        # services it calls.
        from . import services  # noqa: F401
