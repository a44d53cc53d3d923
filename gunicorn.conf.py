"""gunicorn's settings, read from the working directory so that the command stays exactly
`gunicorn rdv.wsgi` (../shared/CONTRACT.md). Command-line options still override these."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers: the pages are short database reads; 2 per CPU + 1 is gunicorn's own advice.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 12)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Restart workers now and then, so that a slow leak never grows unbounded.
max_requests = 5000
max_requests_jitter = 500
# Requests are not logged by default: the app logs what it does, by ids (see rdv/logging.py).
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
