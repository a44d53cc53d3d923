"""Flower's configuration, read from the working directory by `celery -A rdv flower`.

Flower reads FLOWER_* environment variables itself, but this file is applied after them, so
it is where Flower is made never to run open: basic auth always, from FLOWER_BASIC_AUTH
(`user:password`, several separated by commas), and in production (DEBUG=false) it refuses
to start without one.
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
