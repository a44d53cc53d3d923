"""Run the project as production runs it: a subprocess with production settings."""

import subprocess
import sys

from .support.processes import PROJECT_DIR as BASE_DIR, project_env


def production_env(**overrides):
    """The environment of a production process with no database or broker of the tests: the
    public host names, an in-memory broker. None removes a variable."""
    return project_env(**{
        "ALLOWED_HOSTS": "rdv.example.fr",
        "CSRF_TRUSTED_ORIGINS": "https://rdv.example.fr",
        "PUBLIC_BASE_URL": "https://rdv.example.fr",
        "CELERY_BROKER_URL": "memory://",
        **overrides,
    })


def run(args, env, timeout=60):
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)
