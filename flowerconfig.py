"""Flower's configuration, read from the working directory by `celery -A rdv flower`.

Flower reads FLOWER_* environment variables itself, but this file is applied after them, so
it is where Flower is made never to run open: basic auth always, from FLOWER_BASIC_AUTH
(`user:password`, several separated by commas), and in production (DEBUG=false) it refuses
to start without one.

Prometheus: Flower serves /metrics (its task and worker figures, plus the notification
pipeline's, notifications/metrics.py), behind the same login (README, "Operations").
Times: Flower shows them in Celery's time zone, which is TIME_ZONE (rdv/settings.py).
"""

import os

from django.conf import settings

# All interfaces in a container (production); this machine only in development.
address = os.environ.get("FLOWER_ADDRESS", "127.0.0.1" if settings.DEBUG else "0.0.0.0")
port = int(os.environ.get("FLOWER_PORT", "5555"))

_credentials = [c.strip() for c in os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if c.strip()]
if not _credentials:
    if not settings.DEBUG:
        raise SystemExit("Flower refuses to start open: set FLOWER_BASIC_AUTH=user:password.")
    _credentials = [settings.FLOWER_BASIC_AUTH]
for _pair in _credentials:
    _user, _, _password = _pair.partition(":")
    if not _user or len(_password) < (1 if settings.DEBUG else 12):
        raise SystemExit("FLOWER_BASIC_AUTH must be user:password (a password of 12+ characters in production).")
basic_auth = _credentials

# Flower 2.2 serves /metrics without authentication (its documentation lists it as exempt): task
# names, worker names and the pipeline's figures to anyone who reaches the port. Ours asks for
# the login above, as every other page does (Prometheus sends it: basic_auth in the scrape
# config). /healthcheck stays open for the container's health probe; it says only "OK".
from flower.views.monitor import Metrics as _Metrics  # noqa: E402
from tornado.web import authenticated as _authenticated  # noqa: E402

if not getattr(_Metrics.get, "rdv_login_required", False):
    _Metrics.get = _authenticated(_Metrics.get)
    _Metrics.get.rdv_login_required = True

from notifications import metrics as _metrics  # noqa: E402

_metrics.register()
