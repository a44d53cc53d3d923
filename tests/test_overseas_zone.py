"""One function decides an appointment's zone; an overseas organisation whose zone is set only
on its places (Guyane, America/Cayenne) tells its phone appointments in Cayenne time, on the
slot page, in the SMS and in the email."""

import re
from datetime import UTC, time
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from appointments.models import Appointment, LocationType, Motif, Organisation, Place
from appointments.zones import zone_for

from .public_pages import book, links, slot_start, text
from .support.dates import french, upcoming

CAYENNE = ZoneInfo("America/Cayenne")  # UTC-3 all year: 9h00 there is 12:00 UTC, 13h00 or 14h00 in Paris


def guyane_phone_motif(demo):
    return Motif.objects.get(organisation=demo.guyane, location_type=LocationType.PHONE)


def test_the_demo_has_an_overseas_organisation_zoned_only_by_its_places(demo):
    assert demo.guyane.time_zone == ""
    assert [p.time_zone for p in demo.guyane.places.all()] == ["America/Cayenne"]
    motif = guyane_phone_motif(demo)
    assert motif.bookable_publicly
    # Without a place (phone, visio, home): the zone the organisation's places agree on.
    assert zone_for(demo.guyane) == CAYENNE
    assert zone_for(demo.lyon) == ZoneInfo("Europe/Paris")
    assert zone_for(demo.guadeloupe, demo.guadeloupe_place) == ZoneInfo("America/Guadeloupe")
    appointment = Appointment(motif=motif, organisation=demo.guyane, location_type=LocationType.PHONE)
    assert appointment.zone == CAYENNE


def test_places_in_several_zones_leave_placeless_appointments_in_the_default_zone(demo):
    Place.objects.create(organisation=demo.guyane, name="Antenne de Kourou", address="Kourou",
                         time_zone="America/Guadeloupe")
    assert zone_for(Organisation.objects.get(pk=demo.guyane.pk)) == ZoneInfo("Europe/Paris")


def test_an_organisation_zone_that_contradicts_its_places_is_refused(demo):
    demo.guyane.time_zone = "Europe/Paris"
    with pytest.raises(ValidationError) as error:
        demo.guyane.full_clean()
    assert "America/Cayenne" in str(error.value)
    demo.guyane.time_zone = "America/Cayenne"
    demo.guyane.full_clean()  # the same zone as its places: fine


def test_a_place_zone_that_contradicts_its_organisation_is_refused(demo):
    place = Place(organisation=demo.guadeloupe, name="Annexe", address="Basse-Terre", time_zone="Europe/Paris")
    with pytest.raises(ValidationError):
        place.full_clean()
    place.time_zone = ""
    place.full_clean()
    assert place.zone == ZoneInfo("America/Guadeloupe")


def test_the_admin_refuses_a_contradicting_zone(demo, admin_client):
    response = admin_client.post(f"/admin/appointments/organisation/{demo.guyane.pk}/change/", {
        "name": demo.guyane.name, "brand": demo.guyane.brand, "time_zone": "Europe/Paris",
    })
    assert response.status_code == 200
    assert "Ce fuseau contredit celui de vos lieux" in text(response)
    demo.guyane.refresh_from_db()
    assert demo.guyane.time_zone == ""


def test_a_guyane_phone_appointment_booked_online_is_told_in_cayenne_time(demo, client, committed, sms_outbox):
    motif = guyane_phone_motif(demo)
    monday = upcoming(0, 9, zone=CAYENNE, after_days=8)
    page = client.get(f"/reserver/creneau/?motif={motif.pk}&semaine={monday.date().isoformat()}")
    assert page.status_code == 200
    nine = [url for url in links(page, "/reserver/coordonnees/") if slot_start(url) == monday.astimezone(UTC)]
    assert len(nine) == 1, "the 9h00 Cayenne slot is offered, once"
    # The slot page shows it as 9h00 (first of the day), never as Paris' 13h00 or 14h00.
    day_section = re.search(r'aria-labelledby="day-%s".*?</section>' % monday.date().isoformat(), text(page), re.S).group(0)
    assert re.findall(r">(\d+h\d\d)</a>", day_section)[0] == "9h00"
    assert french(monday, CAYENNE) in day_section

    with committed():
        done = book(client, nine[0])
    assert done.status_code == 302
    appointment = Appointment.objects.get(motif=motif)
    assert appointment.starts_at == monday
    assert appointment.local_starts_at.time() == time(9, 0)

    [sms] = sms_outbox
    assert "à 9h00" in sms.body and "13h00" not in sms.body and "14h00" not in sms.body
    [email] = [m for m in mail.outbox if m.to == ["lea.dupont@exemple.fr"]]
    assert french(monday, CAYENNE) in email.body
    assert french(monday, CAYENNE) in email.subject
    [agent_email] = [m for m in mail.outbox if m.to == ["lina.sainte-rose@demo.rdv.fr"]]
    assert french(monday, CAYENNE) in agent_email.body
    confirmation = client.get(done.url)
    assert french(monday, CAYENNE).lower() in text(confirmation).lower()



def test_a_zone_is_named_for_a_person():
    from appointments.zones import zone_label

    assert zone_label("Europe/Paris") == "heure de Paris"
    assert zone_label(CAYENNE) == "heure de Guyane"
    assert zone_label(ZoneInfo("Indian/Reunion")) == "heure de La Réunion"
    assert zone_label("America/Argentina/Buenos_Aires") == "heure de Buenos Aires"  # not listed: its city
