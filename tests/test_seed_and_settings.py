"""seed_demo: idempotent demo data. (Its bulk appointments: test_seed_bulk.py; settings that
refuse to start: test_operations.py.)"""

import io

from django.core.management import call_command

from appointments.models import Agent, Appointment, Contact, Motif, OpeningHours, Organisation


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
