from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from . import audit, history_clock, observability

        # History rows and access events are chained into the audit trail.
        audit.connect_receivers()
        # Seed commands may date the history they write (demo data's past).
        history_clock.connect_receivers()
        # A request's id is forgotten once its response is closed.
        observability.connect_request_signals()
