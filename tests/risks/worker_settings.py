"""Settings of the Celery worker the end-to-end test starts: the project's
settings, with a queue of the test's own (so no other worker takes its
tasks), a result backend, and quick retries."""

import os

from portal.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["CAIRN_TEST_CELERY_QUEUE"]
CELERY_RESULT_BACKEND = CELERY_BROKER_URL  # noqa: F405
CAIRN_NOTIFICATION_BACKOFF_SECONDS = 1
CAIRN_NOTIFICATION_MAX_ATTEMPTS = 3
# The test's webhook receiver listens on 127.0.0.1 over plain HTTP.
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
# The chaos test compresses time: unacknowledged tasks of a killed worker come
# back after this many seconds (production: 900).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "visibility_timeout": int(os.environ.get("CAIRN_TEST_VISIBILITY_TIMEOUT", "900")),
}
