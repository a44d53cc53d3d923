"""Where the benchmarks run: their own database and Redis database, production-like settings."""

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DB_NAME", "rdv_bench")
DATABASE_URL = SERVER_URL.rsplit("/", 1)[0] + "/" + DB_NAME
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "5"))
BROKER_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
# Django's cache on Redis, as in production (compose's CACHE_URL): the public page cache and
# the rate-limit counters are measured where they will live, never in a per-process locmem.
CACHE_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"

_SECRET = secrets.token_urlsafe(50)


def bench_env(**extra):
    """The environment of every process of the benchmark (and of this one): production
    settings (DEBUG=false, so no query log), the bench database and broker, quiet logs."""
    from tests.support.processes import project_env

    return project_env(**{**dict(
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY=_SECRET,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        CACHE_URL=CACHE_URL,
        PUBLIC_BASE_URL="https://rdv.example.fr",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
    ), **extra})


def activate():
    """Make this process a bench process, then set Django up."""
    sys.path.insert(0, str(BASE_DIR))
    env = bench_env()
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
