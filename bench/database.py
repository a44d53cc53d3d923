"""The bench's scratch database: created empty, migrated, seeded in bulk by seed_demo."""

import subprocess
import time

import psycopg

from .env import BASE_DIR, DB_NAME, PYTHON, SERVER_URL, bench_env


def _admin():
    return psycopg.connect(SERVER_URL.replace("postgres://", "postgresql://", 1), autocommit=True)


def recreate():
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    manage("migrate", "--noinput")


def manage(*args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=bench_env(), check=True,
                   stdout=subprocess.DEVNULL)


def seed(appointments):
    """Add N appointments with seed_demo (bulk); returns the seconds it took."""
    started = time.monotonic()
    manage("seed_demo", "--appointments", str(appointments))
    return time.monotonic() - started


def drop():
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
