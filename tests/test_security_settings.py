"""Production settings fail closed (issue 10, item 7): with DEBUG unset the app is in
production mode, so it refuses the development SECRET_KEY and has no development Flower
login; development is asked for explicitly (DEBUG=true, as `make run` sets it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='rdv.settings'; django.setup();"
                  "from django.conf import settings as s; print(s.DEBUG, repr(s.FLOWER_BASIC_AUTH), s.SECRET_KEY[:16])")


def run(code, **env):
    """A fresh process on rdv.settings, with none of the variables this one has for the
    project (DEBUG, SECRET_KEY, ...) unless given."""
    project = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "FLOWER_BASIC_AUTH", "DJANGO_SETTINGS_MODULE")
    base = {key: value for key, value in os.environ.items() if key not in project}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_without_debug_the_settings_refuse_the_development_key():
    result = run(PRINT_SETTINGS)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "DEBUG=true" in result.stderr


@pytest.mark.parametrize("debug", ["", "0", "no", "false"])
def test_an_unset_or_false_debug_is_production(debug):
    result = run(PRINT_SETTINGS, DEBUG=debug, SECRET_KEY="k" * 50, ALLOWED_HOSTS="rdv.example.fr")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "''", "k" * 16]


def test_development_is_asked_for_explicitly():
    result = run(PRINT_SETTINGS, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "'admin:admin-dev'", "django-insecure-"]


def test_flower_refuses_to_start_without_its_login_when_debug_is_unset():
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='rdv.settings'; django.setup(); import flowerconfig"
    result = run(code, SECRET_KEY="k" * 50, ALLOWED_HOSTS="rdv.example.fr")
    assert result.returncode != 0 and "FLOWER_BASIC_AUTH" in result.stderr
    assert run(code, DEBUG="true").returncode == 0  # make run: the development login


def test_make_run_asks_for_development_mode():
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    result = subprocess.run(["make", "-n", "run", "STAMP=Makefile"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line or "rdv.devrun" in line]
    assert len(commands) == 3 and all(line.startswith("DEBUG=${DEBUG:-true} ") for line in commands), commands
