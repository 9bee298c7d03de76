from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from milestones.signals import milestone_updated

        from .receivers import on_milestone_updated

        milestone_updated.connect(
            on_milestone_updated, dispatch_uid="scheduling.refresh_outlook"
        )
