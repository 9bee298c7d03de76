from django.apps import AppConfig


class RisksConfig(AppConfig):
    name = "risks"
    verbose_name = "Risks and escalations"

    def ready(self) -> None:
        from milestones.signals import milestone_updated

        from . import receivers

        milestone_updated.connect(
            receivers.on_milestone_updated, dispatch_uid="risks_milestone_updated"
        )
