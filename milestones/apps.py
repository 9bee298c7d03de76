from django.apps import AppConfig


class MilestonesConfig(AppConfig):
    name = "milestones"
    verbose_name = "Milestones"

    def ready(self) -> None:
        from .receivers import on_milestone_updated
        from .signals import milestone_updated

        milestone_updated.connect(
            on_milestone_updated, dispatch_uid="milestones.refresh_outlook"
        )
