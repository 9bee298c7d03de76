"""gunicorn settings of ``make serve`` and the container image.

Workers default to the CPU count (2 x cores + 1, gunicorn's rule of thumb for
synchronous workers waiting on the database), overridable with
``WEB_CONCURRENCY``. ``portal.wsgi`` freezes the start-up heap; with
``preload_app`` the workers fork from one loaded application and share it.
"""

import multiprocessing
import os

host = os.environ.get("CAIRN_BIND", "127.0.0.1")
bind = f"{host}:{os.environ.get('CAIRN_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
preload_app = True
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 20
# Requests are logged by the application's own logging, not twice.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Behind a reverse proxy on the same host, trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    """A worker that exits leaves its metrics file to the scrape's sum no
    longer (PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
