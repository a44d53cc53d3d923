"""Change and cancellation messages say what changed, in words — date, time, place, type,
duration —, a move to a place in another zone tells the new local time, cancellations name
the type and offer to book again (issue 11, item 6)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from appointments import services
from appointments.models import LocationType, Motif, Place

from .public_pages import links, text

PARIS = ZoneInfo("Europe/Paris")
pytestmark = pytest.mark.time_machine(datetime(2026, 12, 1, 9, 0, tzinfo=PARIS), tick=True)
TUESDAY = datetime(2026, 12, 15, 10, 0, tzinfo=PARIS)


def citizen_email():
    [email] = [m for m in mail.outbox if m.to == ["lea.dupont@exemple.fr"]]
    return email


def test_a_duration_only_change_says_the_duration(demo, committed, sms_outbox):
    appointment = demo.book(starts_at=TUESDAY)
    before = services.snapshot(appointment)
    appointment.duration_minutes = 45
    with committed():
        services.save_change(appointment, before, actor="agent", agent=demo.camille)
    [sms] = sms_outbox
    assert sms.body == f"RDV Titres d'identité du mar. 15/12 à 10h00, sur place : nouvelle durée 45 min. Infos : {appointment.link_url()}"
    body = citizen_email().body
    assert "- Durée : 45 minutes au lieu de 20 minutes." in body
    assert "- Date :" not in body and "- Heure :" not in body and "- Type" not in body


def test_a_time_change_on_the_same_day_says_the_time_only(demo, committed, sms_outbox):
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 15, 14, 30, tzinfo=PARIS))
    assert sms_outbox[0].body.startswith("RDV Titres d'identité déplacé du mar. 15/12 à 10h00 au mar. 15/12 à 14h30, sur place.")
    body = citizen_email().body
    assert "- Heure : 14h30 au lieu de 10h00." in body
    assert "- Date :" not in body


def test_a_date_change_says_the_day(demo, committed):
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 17, 10, 0, tzinfo=PARIS))
    body = citizen_email().body
    assert "- Date : jeudi 17 décembre 2026 au lieu du mardi 15 décembre 2026." in body
    assert "- Heure :" not in body


def test_a_type_change_says_the_new_type(demo, committed, sms_outbox):
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.reschedule(appointment, location_type=LocationType.PHONE)
    assert sms_outbox[0].body == (f"RDV Titres d'identité du mar. 15/12 à 10h00 : désormais par téléphone. "
                                  f"Infos : {appointment.link_url()}")
    assert "- Type de rendez-vous : par téléphone au lieu de sur place." in citizen_email().body


def test_a_place_change_says_the_new_place(demo, committed, sms_outbox):
    other = Place.objects.create(organisation=demo.lyon, name="Annexe Part-Dieu", address="10 rue de Bonnel, 69003 Lyon")
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.reschedule(appointment, place=other)
    assert sms_outbox[0].body.startswith("RDV Titres d'identité du mar. 15/12 à 10h00, sur place : nouveau lieu.")
    assert ("- Lieu : Annexe Part-Dieu, 10 rue de Bonnel, 69003 Lyon au lieu de Mairie du 3e, 215 rue Duguesclin, "
            "69003 Lyon.") in citizen_email().body


def test_a_move_to_a_place_in_another_zone_tells_the_new_local_time(demo, committed, sms_outbox):
    far = Place.objects.create(organisation=demo.lyon, name="Antenne de Pointe-à-Pitre", address="Pointe-à-Pitre",
                               time_zone="America/Guadeloupe")
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.reschedule(appointment, place=far)  # the same instant: 10h00 in Lyon is 5h00 there
    assert sms_outbox[0].body.startswith(
        "RDV Titres d'identité déplacé du mar. 15/12 à 10h00 au mar. 15/12 à 5h00, sur place, nouveau lieu.")
    body = citizen_email().body
    assert "- Heure : 5h00, heure locale du nouveau lieu, au lieu de 10h00, heure de l'ancien lieu." in body
    assert "Date et heure : mardi 15 décembre 2026 à 5h00" in body


def test_a_cancellation_names_the_type_and_offers_to_book_again(demo, committed, sms_outbox, client):
    appointment = demo.book(starts_at=TUESDAY)
    with committed():
        services.cancel(appointment, actor="agent", agent=demo.camille)
    rebook = f"{appointment.link_url()}/reprendre"
    assert sms_outbox[0].body == f"RDV Titres d'identité du mar. 15/12 à 10h00, sur place, annulé. Reprendre RDV : {rebook}"
    email = citizen_email()
    assert f"Reprendre rendez-vous : {rebook}" in email.body
    assert f'href="{rebook}"' in email.alternatives[0][0]
    # The link leads to the booking pages of the same motif, at the same place.
    response = client.get(f"/r/{appointment.token}/reprendre")
    assert response.status_code == 302
    assert response.url == f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}"
    assert client.get(response.url).status_code == 200
    # The link page of a cancelled appointment offers it too, before any initials.
    page = client.get(f"/r/{appointment.token}")
    assert "Reprendre rendez-vous" in text(page)
    assert links(page, f"/r/{appointment.token}/reprendre")


def test_a_motif_not_booked_online_gets_no_rebooking_link(demo, committed, sms_outbox, client):
    motif = Motif.objects.get(name__startswith="Dépôt de dossier de mariage")
    appointment = demo.book(motif=motif, starts_at=TUESDAY)
    with committed():
        services.cancel(appointment, actor="agent", agent=demo.camille)
    assert sms_outbox[0].body == f"RDV État civil du mar. 15/12 à 10h00, sur place, annulé. Infos : {appointment.link_url()}"
    assert "Reprendre rendez-vous" not in citizen_email().body
    assert client.get(f"/r/{appointment.token}/reprendre").url == "/"
    assert "Reprendre rendez-vous" not in text(client.get(f"/r/{appointment.token}"))


def test_a_phone_motif_rebooks_without_a_place(demo, committed, client):
    motif = Motif.objects.get(organisation=demo.guyane, location_type=LocationType.PHONE)
    appointment = demo.book(motif=motif, place=None, agents=[demo.camille], starts_at=TUESDAY)
    services.cancel(appointment, actor="citizen")
    response = client.get(f"/r/{appointment.token}/reprendre")
    assert response.url == f"/reserver/lieu/?motif={motif.pk}"
    assert client.get(response.url).url == f"/reserver/creneau/?motif={motif.pk}"
