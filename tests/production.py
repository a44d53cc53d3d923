"""Run the project as production runs it: a subprocess with production settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def production_env(**overrides):
    """The environment of a production process: rdv.settings (never tests.settings, which
    pytest exports), DEBUG=false, a real SECRET_KEY, ALLOWED_HOSTS. None removes a variable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_", "FLOWER_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="rdv.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="rdv.example.fr",
        CSRF_TRUSTED_ORIGINS="https://rdv.example.fr",
        PUBLIC_BASE_URL="https://rdv.example.fr",
        CELERY_BROKER_URL="memory://",
        PYTHONUNBUFFERED="1",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(args, env, timeout=60):
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)
