"""The Celery application. Tasks are autodiscovered in every installed app.

With no ``CELERY_BROKER_URL`` the settings make every task run eagerly, in
process, which is the embedded default for development and tests.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("cairn")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The request id of the web request that queued a task follows it.
from portal.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()
