"""Test settings: the whole suite runs on the real PostgreSQL server when it answers (always
in CI), else on SQLite with the PostgreSQL-only tests skipped and the reason printed."""

import hashlib
import os

os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# The suite builds on the development settings (pytest-django still runs tests with
# DEBUG=False); rdv.settings defaults to production. Processes the tests start inherit it,
# unless they ask for production (tests/production.py, tests/support/processes.py).
os.environ.setdefault("DEBUG", "true")

from rdv.settings import *  # noqa: E402,F403
from rdv.settings import BASE_DIR, env  # noqa: E402

from .servers import IN_CI, POSTGRES_URL, postgres_problem  # noqa: E402

POSTGRES_PROBLEM = postgres_problem()
if POSTGRES_PROBLEM is None:
    DATABASES = {"default": env.db_url_config(POSTGRES_URL)}
    # One test database per checkout, so that two checkouts can test at once on one server.
    _checkout = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]
    DATABASES["default"]["TEST"] = {"NAME": f"rdv_test_{_checkout}"}
elif IN_CI:
    raise RuntimeError(f"CI=true and {POSTGRES_PROBLEM}")
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SMS_BACKEND = "locmem"
SMS_BACKENDS = []
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PUBLIC_BASE_URL = "https://rdv.example.fr"
