"""Item 6 of issue 14: agents' own settings and French labels in the admin.

An agent changes their own notification level (and nothing else, nobody else's); opening
hours take their weekdays as French checkboxes, validated; every label is French.
"""

import html
import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from appointments.models import Agent, NotificationLevel, OpeningHours

from .factories import user


def page_of(response):
    return html.unescape(response.content.decode())


def agent_url(agent):
    return f"/admin/appointments/agent/{agent.pk}/change/"


# --- The notification level -------------------------------------------------------------

def test_an_agent_changes_their_own_notification_level(camille_client, demo):
    assert demo.camille.notification_level == NotificationLevel.OTHERS
    page = page_of(camille_client.get(agent_url(demo.camille)))
    assert '<select name="notification_level"' in page
    assert "E-mails de rendez-vous reçus" in page
    assert "Mairie de Lyon 3e arrondissement" in page  # their organisations, read-only
    assert 'name="organisations"' not in page and 'name="user"' not in page

    lyon_ids = set(demo.camille.organisations.values_list("pk", flat=True))
    response = camille_client.post(agent_url(demo.camille), {
        "notification_level": NotificationLevel.SOON,
        # Sent by hand, never bound: only the level is a field of this form.
        "organisations": [demo.arras.pk], "services": [], "user": user("julien.bernard").pk,
    })
    assert response.status_code == 302 and response["Location"] == agent_url(demo.camille)
    camille = Agent.objects.get(pk=demo.camille.pk)
    assert camille.notification_level == NotificationLevel.SOON
    assert set(camille.organisations.values_list("pk", flat=True)) == lyon_ids
    assert camille.user.username == "camille.martin"
    assert "Vos préférences sont enregistrées." in page_of(camille_client.get(response["Location"]))


def test_an_agent_refused_an_unknown_level_is_told_in_french(camille_client, demo):
    response = camille_client.post(agent_url(demo.camille), {"notification_level": "everything"})
    assert response.status_code == 200
    assert "Sélectionnez un choix valide" in page_of(response)
    assert Agent.objects.get(pk=demo.camille.pk).notification_level == NotificationLevel.OTHERS


def test_an_agent_cannot_change_a_colleagues_level(camille_client, demo):
    page = page_of(camille_client.get(agent_url(demo.julien)))  # same organisation: visible, read-only
    assert "Julien Bernard" in page
    assert '<select name="notification_level"' not in page

    response = camille_client.post(agent_url(demo.julien), {"notification_level": NotificationLevel.NONE})
    assert response.status_code == 403
    assert Agent.objects.get(pk=demo.julien.pk).notification_level == NotificationLevel.OTHERS


def test_an_agent_cannot_reach_another_organisations_agent(camille_client, demo):
    response = camille_client.post(agent_url(demo.sophie), {"notification_level": NotificationLevel.NONE})
    assert response.status_code == 403  # outside their organisations: not even found, refused
    assert Agent.objects.get(pk=demo.sophie.pk).notification_level == NotificationLevel.OTHERS


def test_the_agents_list_stays_read_only_for_agents(camille_client, demo):
    response = camille_client.post("/admin/appointments/agent/add/", {"notification_level": "none"})
    assert response.status_code == 403


def test_a_superuser_still_edits_every_field(client, demo):
    client.force_login(user("admin"))
    page = page_of(client.get(agent_url(demo.julien)))
    assert 'name="organisations"' in page and 'name="notification_level"' in page
    assert "Compte utilisateur" in page and ">User<" not in page


# --- Opening hours with French weekday checkboxes ----------------------------------------

def hours_form(demo, **overrides):
    start = timezone.localdate() + timedelta(days=1)
    data = {
        "agent": demo.camille.pk, "place": demo.lyon_place.pk, "motifs": [demo.cni.pk],
        "weekdays": ["0", "2"], "start_time": "08:30", "end_time": "12:00",
        "valid_from": start.isoformat(), "valid_until": "",
    }
    data.update(overrides)
    return data


def test_opening_hours_offer_french_weekday_checkboxes(camille_client, demo):
    page = page_of(camille_client.get("/admin/appointments/openinghours/add/"))
    for value, name in enumerate(["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]):
        assert re.search(rf'type="checkbox" name="weekdays" value="{value}" id="id_weekdays_{value}">\s*{name}</label>', page)
    assert "0 = lundi" not in page


def test_opening_hours_saved_from_the_checkboxes(camille_client, demo):
    before = set(OpeningHours.objects.values_list("pk", flat=True))
    response = camille_client.post("/admin/appointments/openinghours/add/", hours_form(demo))
    assert response.status_code == 302, page_of(response)
    created = OpeningHours.objects.exclude(pk__in=before).get()
    assert created.weekdays == [0, 2]

    page = page_of(camille_client.get(f"/admin/appointments/openinghours/{created.pk}/change/"))
    assert 'value="0" id="id_weekdays_0" checked' in page and 'value="2" id="id_weekdays_2" checked' in page
    assert 'value="1" id="id_weekdays_1" checked' not in page
    listing = page_of(camille_client.get("/admin/appointments/openinghours/"))
    assert "lundi, mercredi" in listing and "[0, 2]" not in listing


@pytest.mark.parametrize("overrides, message", [
    ({"weekdays": []}, "Cochez au moins un jour de la semaine."),
    ({"weekdays": ["7"]}, "« 7 » n'est pas un jour de la semaine."),
    ({"start_time": "12:00", "end_time": "08:30"}, "L'heure de fin doit être après l'heure de début."),
])
def test_opening_hours_refused_with_a_french_sentence(camille_client, demo, overrides, message):
    count = OpeningHours.objects.count()
    response = camille_client.post("/admin/appointments/openinghours/add/", hours_form(demo, **overrides))
    assert response.status_code == 200
    assert message in page_of(response)
    assert OpeningHours.objects.count() == count


def test_opening_hours_validity_range_refused_in_french(camille_client, demo):
    start = timezone.localdate() + timedelta(days=10)
    response = camille_client.post("/admin/appointments/openinghours/add/", hours_form(
        demo, valid_from=start.isoformat(), valid_until=(start - timedelta(days=1)).isoformat()))
    assert response.status_code == 200
    assert "La date de fin de validité doit être le jour de début ou après." in page_of(response)


# --- French labels ------------------------------------------------------------------------

# Field names that are already the French word (the default label is then right).
FRENCH_AS_NAMED = {"organisation", "organisations", "service", "services", "motif", "motifs", "agent", "agents"}


def test_every_appointments_label_is_french():
    from appointments import models

    for model in [m for m in admin.site._registry if m._meta.app_label == "appointments"] + [
        models.AppointmentAgent, models.Participation, models.ConsentRecord,
    ]:
        for field in model._meta.get_fields():
            if field.auto_created and not field.concrete or field.name == "id":
                continue
            default = field.name.replace("_", " ")
            assert str(field.verbose_name) != default or field.name in FRENCH_AS_NAMED, (
                f"{model.__name__}.{field.name} has no French label")
    assert str(models.Place._meta.verbose_name_plural) == "lieux"


def test_admin_pages_show_french_labels(client, demo):
    client.force_login(user("admin"))
    appointment = demo.book()
    index = page_of(client.get("/admin/"))
    assert "Lieux" in index and "Lieus" not in index
    page = page_of(client.get(f"/admin/appointments/appointment/{appointment.pk}/change/"))
    assert "Réservé par" in page and "Nombre de modifications" in page
    for english in ("Booked by agent", "Sequence", ">User<", "Token", "Reminder due at"):
        assert english not in page
