"""Container health probes: `python -m rdv.healthcheck web|worker|beat|flower`.

Exit 0 when the process in this container answers, 1 otherwise (docker-compose.yml).
"""

import os
import socket
import sys
import urllib.request


def _http_ok(url, headers=None, timeout=5):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def web():
    """/healthz through gunicorn: the app, its database and its broker."""
    hosts = [h.strip().lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h for h in hosts if h != "*"), "localhost")
    # As the TLS-terminating proxy would send it, so that no HTTPS redirect answers instead.
    return _http_ok("http://127.0.0.1:8000/healthz", {"Host": host, "X-Forwarded-Proto": "https"})


def _ping(node_name):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdv.settings")
    from rdv.celery import app

    try:
        replies = app.control.ping(destination=[node_name], timeout=5)
    except Exception:
        return False
    return any(node_name in reply for reply in replies)


def worker():
    return _ping(f"celery@{socket.gethostname()}")


def beat():
    # Celery >= 5.7 beat answers ping while its scheduler ticks (beat_enable_remote_control).
    return _ping(f"celerybeat@{socket.gethostname()}")


def flower():
    port = os.environ.get("FLOWER_PORT", "5555")
    return _http_ok(f"http://127.0.0.1:{port}/healthcheck")


PROBES = {"web": web, "worker": worker, "beat": beat, "flower": flower}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PROBES:
        sys.exit(f"usage: python -m rdv.healthcheck {'|'.join(PROBES)}")
    sys.exit(0 if PROBES[sys.argv[1]]() else 1)
