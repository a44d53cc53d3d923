"""Which real servers the tests can reach. Outside CI a missing server skips the tests that
need it, with the reason printed; in CI (CI=true) it fails them."""

import os
import socket

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres")
# Each checkout testing at once on one machine picks its own database number.
REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('TEST_REDIS_DB', '0'))}"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_problem():
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        psycopg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
        return None
    except Exception as exc:  # any failure means "not usable", with its reason
        return f"PostgreSQL unreachable at 127.0.0.1:5432 ({exc.__class__.__name__}: {str(exc).strip()[:120]})"


def redis_problem():
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return None
            return "Redis at 127.0.0.1:6379 did not answer PONG"
    except OSError as exc:
        return f"Redis unreachable at 127.0.0.1:6379 ({exc})"
