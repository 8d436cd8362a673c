"""gunicorn configuration, used by `make dev` and by the container image.

gthread workers: each worker runs a thread pool, and each thread holds at most one pooled
database connection, so connections per instance = workers x threads (docs/capacity.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# The app's modules, imported once here in the master: each worker forks with them loaded and
# shares their pages copy-on-write instead of importing (and holding) its own copy. The app
# itself is still built in each worker, after the fork (no preload_app): its connections,
# threads and pools are the worker's own.
import app.main
from app.core.settings import Settings, SettingsError

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

# Validated as the API, in the master before any worker forks: a production configuration with
# problems stops here with every one of them in one message, and no worker boots.
try:
    _settings = Settings.from_env(component="api")
except SettingsError as error:
    raise SystemExit(str(error)) from None

bind = f"0.0.0.0:{_settings.port}"  # noqa: S104 - inside the container; make dev binds 127.0.0.1
# gthread, answering gunicorn's own refusals in the envelope and naming no server.
worker_class = "app.gunicorn_worker.ApiWorker"
# os.cpu_count, as multiprocessing.cpu_count reads it, without importing multiprocessing into
# every worker.
workers = _settings.web_concurrency or os.cpu_count() or 1
threads = _settings.gunicorn_threads
# SIGTERM: stop accepting, let in-flight requests finish for up to graceful_timeout seconds.
graceful_timeout = 30
timeout = 60
# Longer than the load balancer's idle timeout, so it never reuses a socket we just closed.
keepalive = 75
# Recycle workers now and then; the jitter keeps them from restarting together.
max_requests = 5000
max_requests_jitter = 500
worker_tmp_dir = "/dev/shm"  # noqa: S108 - heartbeat files off the container's disk
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "jobapptracker-api"
# No runtime control interface: nothing in production needs it, and it would want a writable home.
control_socket_disable = True
forwarded_allow_ips = "127.0.0.1"  # client IPs are derived by the app from trusted hops
limit_request_line = 8190
limit_request_fields = 100


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Let the worker's outbox drainer finish the email in hand; queued rows stay queued."""
    app.main.stop_background()
