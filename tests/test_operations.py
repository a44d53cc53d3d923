"""Operations: /healthz, production settings, private logs, Flower never open."""

import ast
import json
import logging
import logging.config
import time

import pytest

from rdv.logs import REDACTED_EMAIL, REDACTED_PHONE, redact

from .production import BASE_DIR, production_env, run
from .servers import REDIS_URL
from .support.processes import flower, free_port


@pytest.fixture
def broker_at(monkeypatch):
    """Point the Celery app (as /healthz uses it) at another broker URL: Celery reads the
    CELERY_BROKER_URL environment variable before its settings, on each connection."""

    def point(url):
        monkeypatch.setenv("CELERY_BROKER_URL", url)

    return point


# --- /healthz -----------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client, broker_at):
    broker_at(REDIS_URL)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_is_503_json_when_the_broker_is_unreachable(client, broker_at):
    broker_at(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "error", "database": True, "broker": False}
    assert time.monotonic() - started < 10, "a probe must answer before the load balancer gives up"


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_fails(client, broker_at, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] is False


def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405


# --- Production settings ---------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-dev-only-do-not-use-in-production"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE"),
        ({"REMINDER_DELAY_HOURS": "0"}, "REMINDER_DELAY_HOURS"),
        ({"REMINDER_SWEEP_SECONDS": "600"}, "REMINDER_SWEEP_SECONDS"),
        ({"REMINDER_SWEEP_SECONDS": "120", "HEALTH_SWEEP_MAX_SECONDS": "120"}, "HEALTH_SWEEP_MAX_SECONDS"),
        ({"HEALTH_PENDING_MAX_SECONDS": "10"}, "HEALTH_PENDING_MAX_SECONDS"),
    ],
)
def test_production_refuses_to_start_with_dev_secrets_or_bad_settings(overrides, complaint):
    result = run(["manage.py", "check"], production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr


def test_the_web_process_refuses_to_start_too():
    result = run(["-c", "import rdv.wsgi"], production_env(SECRET_KEY=None))
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


# --- Logs carry no personal data -------------------------------------------------------------

PHONES = ["+33612345678", "+33 6 12 34 56 78", "+590 690 12 34 56", "0612345678", "06 12 34 56 78",
          "06.12.34.56.78", "06-12-34-56-78", "0033612345678", "+262692123456"]
EMAILS = ["camille.durand@example.fr", "jean+rdv@mairie-exemple.gouv.fr", "A.B@sub.domain.org"]
HARMLESS = ["appointment 1234567", "notification 42 sent in 0.0123456789s", "2026-03-12T14:30:00+01:00",
            "task 3f2a9c1e-6b1d-4f7a-9a51-0c8f0d8c2b11", "sequence 3", "celery@worker-1 ready", "HTTP 429"]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_are_redacted(phone):
    assert redact(f"SMS to {phone} failed") == f"SMS to {REDACTED_PHONE} failed"


@pytest.mark.parametrize("email", EMAILS)
def test_email_addresses_are_redacted(email):
    assert redact(f"<{email}> refused") == f"<{REDACTED_EMAIL}> refused"


@pytest.mark.parametrize("text", HARMLESS)
def test_ids_times_and_durations_are_kept(text):
    assert redact(text) == text


def test_log_lines_are_json_with_the_personal_data_of_message_and_args_redacted(json_log):
    log = logging.getLogger("notifications.tasks")
    log.warning("SMS %s to %s refused by provider", 17, "+33612345678")
    log.info("email to camille.durand@example.fr bounced", extra={"recipient": "camille.durand@example.fr"})
    log.info("sent", extra={"notification_id": 18})
    first, second, third = json_log()
    assert first["message"] == f"SMS 17 to {REDACTED_PHONE} refused by provider"
    assert first["level"] == "WARNING" and first["logger"] == "notifications.tasks" and first["time"]
    assert second["message"] == f"email to {REDACTED_EMAIL} bounced"
    assert second["recipient"] == REDACTED_EMAIL
    assert third["notification_id"] == 18


def test_log_times_are_in_time_zone_with_their_offset(json_log, time_machine):
    """As Flower and the admin tell times (TIME_ZONE), whatever the process's own zone; the
    offset says which. 13:30 UTC on 15 January is 14:30 in Paris, on 15 July 15:30."""
    from datetime import UTC, datetime

    log = logging.getLogger("notifications.tasks")
    for moment in (datetime(2026, 1, 15, 13, 30, tzinfo=UTC), datetime(2026, 7, 15, 13, 30, tzinfo=UTC)):
        time_machine.move_to(moment, tick=False)
        log.warning("sweep")
    assert [line["time"] for line in json_log()] == ["2026-01-15T14:30:00.000+01:00", "2026-07-15T15:30:00.000+02:00"]


def test_exception_text_is_redacted_too(json_log):
    log = logging.getLogger("notifications.tasks")
    try:
        raise RuntimeError("Twilio refused +33612345678 and jean@example.fr")
    except RuntimeError:
        log.exception("delivery of notification %s failed", 19)
    (line,) = json_log()
    assert "RuntimeError" in line["exc_info"]
    assert "+33612345678" not in line["exc_info"] and "jean@example.fr" not in line["exc_info"]


def test_django_loggers_go_through_the_same_redacting_handler(json_log):
    logging.getLogger("django.request").warning("Not Found: /?email=jean@example.fr")
    (line,) = json_log()
    assert line["message"] == f"Not Found: /?email={REDACTED_EMAIL}"


def test_a_production_process_writes_redacted_json_lines():
    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('notifications').info('reminder for %s at %s', '06 12 34 56 78', 'a.b@example.fr')"
    )
    result = run(["-c", code], production_env())
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == f"reminder for {REDACTED_PHONE} at {REDACTED_EMAIL}"


PERSONAL_ATTRIBUTES = {"phone", "email", "first_name", "last_name", "full_name", "name", "address", "to", "body"}


def _logging_calls_with_personal_data(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in {"debug", "info", "warning", "error", "exception", "critical", "log"}:
            continue
        receiver = ast.unparse(node.func.value)
        if "log" not in receiver.lower():
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            for sub in ast.walk(arg):
                if isinstance(sub, ast.Attribute) and sub.attr in PERSONAL_ATTRIBUTES:
                    yield f"{path.relative_to(BASE_DIR)}:{node.lineno} {ast.unparse(node)}"


def test_code_logs_ids_never_personal_data():
    offenders = [
        call
        for package in ("appointments", "notifications", "rdv")
        for path in sorted((BASE_DIR / package).rglob("*.py"))
        for call in _logging_calls_with_personal_data(path)
    ]
    assert offenders == []


# --- Flower is never open ---------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.e2e
def test_flower_asks_for_the_basic_auth_of_flower_basic_auth():
    env = production_env(FLOWER_BASIC_AUTH="ops:correct-horse-battery", CELERY_BROKER_URL=REDIS_URL)
    with flower(env) as process:
        assert process.get("/")[0] == 401
        assert process.get("/api/workers")[0] == 401
        assert process.get("/metrics")[0] == 401  # Flower leaves it open; flowerconfig.py does not
        assert process.get("/", auth="ops:wrong-password")[0] == 401
        assert process.get("/", auth="ops:correct-horse-battery")[0] == 200


@pytest.mark.parametrize("auth", [None, "", "ops:short"])
def test_flower_refuses_to_start_open_in_production(auth):
    result = run(["-m", "celery", "-A", "rdv", "flower", f"--port={free_port()}"],
                 production_env(FLOWER_BASIC_AUTH=auth), timeout=30)
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
