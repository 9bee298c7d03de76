"""Settings of the Celery worker the end-to-end test starts: the project's
settings, with a queue of the test's own (so no other worker takes its
tasks), a result backend, and quick retries."""

import os

from portal.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["CAIRN_TEST_CELERY_QUEUE"]
CELERY_RESULT_BACKEND = CELERY_BROKER_URL  # noqa: F405
CAIRN_NOTIFICATION_BACKOFF_SECONDS = 1
CAIRN_NOTIFICATION_MAX_ATTEMPTS = 3
