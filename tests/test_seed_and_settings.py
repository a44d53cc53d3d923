import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from appointments.models import Agent, Appointment, AppointmentAgent, Contact, Motif, OpeningHours, Organisation

ROOT = Path(__file__).resolve().parent.parent


def counts():
    return [m.objects.count() for m in (Organisation, Motif, Agent, OpeningHours, Contact, Appointment)]


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo", stdout=io.StringIO())
    first = counts()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert counts() == first
    assert first[0] >= 6 and "camille.martin" in out.getvalue()
    brands = set(Organisation.objects.values_list("brand", flat=True))
    assert brands == {"rdv_service_public", "rdv_solidarites", "rdv_aide_numerique"}
    assert Organisation.objects.exclude(time_zone="").exists(), "one overseas organisation"


def test_seed_demo_adds_appointments_in_bulk_without_double_booking(db):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", appointments=300, stdout=io.StringIO())
    call_command("seed_demo", appointments=200, stdout=io.StringIO())
    assert Appointment.objects.count() == 500
    slots = AppointmentAgent.objects.values_list("agent_id", "starts_at")
    assert len(set(slots)) == 500
    appointment = Appointment.objects.order_by("?").first()
    assert appointment.contacts.get().sms_consent and appointment.contacts.get().consent_records.count() == 2


def run_with(env):
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='rdv.settings'; django.setup()"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("env, message", [
    ({"DEBUG": "false"}, "SECRET_KEY"),
    ({"DEBUG": "false", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
    ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE"),
    ({"REMINDER_DELAY_HOURS": "0"}, "REMINDER_DELAY_HOURS"),
])
def test_bad_settings_refuse_to_start(env, message):
    result = run_with(env)
    assert result.returncode != 0 and message in result.stderr


def test_production_settings_start_with_a_real_key():
    result = run_with({"DEBUG": "false", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "rdv.example.fr"})
    assert result.returncode == 0, result.stderr
