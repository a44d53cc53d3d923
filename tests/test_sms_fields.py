"""Every SMS carries every seed field — the service, the date and time, the type, a link — in
one GSM-7 segment, at a real origin's length; the brand is the sender (an alphanumeric id per
brand), not the first 21 characters of the text (issue 11, item 3)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings

from appointments import services
from appointments.dates import french_compact_datetime
from appointments.models import Appointment, Brand, LocationType, Motif, Service
from notifications import gsm
from notifications.checks import check_sms_sender_ids
from notifications.content import render_sms, short_name_room, sms_sender
from notifications.delivery import prepare
from notifications.models import Event, Notification
from notifications.sms import get_sms_backend

PARIS = ZoneInfo("Europe/Paris")
REAL_ORIGIN = "https://rdv.anct.gouv.fr"
pytestmark = pytest.mark.time_machine(datetime(2026, 9, 1, 9, 0, tzinfo=PARIS), tick=True)

# What a change can be, as describe_previous() records it: every kind, alone and together.
CHANGES = {
    "date": {"date_changed": True, "day_changed": True, "time_changed": True},
    "time": {"date_changed": True, "time_changed": True},
    "place": {"place_changed": True},
    "type": {"place_changed": True, "type_changed": True},
    "duration": {"duration_changed": True},
    "zone": {"date_changed": True, "time_changed": True, "zone_changed": True, "place_changed": True},
    "everything": {"date_changed": True, "day_changed": True, "time_changed": True, "place_changed": True,
                   "type_changed": True, "duration_changed": True},
}
OLD = {"compact_date": "lun. 28/09 à 10h30", "short_date": "28/09 à 10h30", "date": "lundi 28 septembre 2026 à 10h30",
       "location_type": "sur place", "address": "x" * 80, "duration": "1 heure", "day": "lundi 28 septembre 2026",
       "time": "10h30"}


def longest(motif, location_type):
    """The motif on the longest compact date ("mer. 30/09 à 12h30"), with the longest duration
    words, as the SMS would render it; not saved."""
    place = motif.organisation.places.first()
    starts_at = datetime(2026, 9, 30, 12, 30, tzinfo=place.zone)
    appointment = Appointment(motif=motif, organisation=motif.organisation, location_type=location_type,
                              place=place if location_type == LocationType.ON_SITE else None,
                              starts_at=starts_at, duration_minutes=90, pk=1, token="A" * 11, sequence=3)
    appointment.ends_at = starts_at + timedelta(minutes=90)
    return appointment


def scenarios():
    for event in Event.values:
        for name, changes in (CHANGES.items() if event == Event.CHANGE else [("", {})]):
            yield event, name, {**OLD, **changes}


def carries_every_field(text, appointment):
    service = appointment.motif.service
    date = french_compact_datetime(appointment.starts_at, appointment.zone)
    fields = {
        "service": gsm.transliterate(service.name) in text or gsm.transliterate(service.short_name) in text,
        "date": date.split(" à ")[0] in text,
        "time": " à " + date.split(" à ")[1] in text,
        "type": str(appointment.get_location_type_display()) in gsm.transliterate(text) or
        gsm.transliterate(str(appointment.get_location_type_display())) in text,
        "link": appointment.link_url() in text,
    }
    return fields


@override_settings(PUBLIC_BASE_URL=REAL_ORIGIN)
def test_every_demo_motif_event_type_and_change_carries_every_field_in_one_segment(demo, capsys):
    rendered = complete = one_segment = 0
    for motif in Motif.objects.select_related("service", "organisation"):
        for location_type in LocationType.values:
            appointment = longest(motif, location_type)
            for event, change, previous in scenarios():
                notification = Notification(appointment=appointment, event=event, channel="sms", sequence=3,
                                            to="+33612345678", previous=previous)
                text, segments = render_sms(notification, appointment)
                fields = carries_every_field(text, appointment)
                rendered += 1
                complete += all(fields.values())
                one_segment += segments == 1 and gsm.fits_one_segment(text)
                assert all(fields.values()), f"{event} {change}: missing {[k for k, v in fields.items() if not v]}: {text}"
                assert segments == 1 and gsm.is_gsm7(text), f"{gsm.septets(text)} septets: {text}"
                assert not text.startswith(motif.organisation.brand_label)  # the sender says who writes
    assert rendered == Motif.objects.count() * len(LocationType.values) * (3 + len(CHANGES))
    with capsys.disabled():
        print(f"\nSMS rendered: {rendered}; with service, date, time, type and link: {complete} "
              f"({100 * complete / rendered:.0f} %); in one segment: {one_segment} ({100 * one_segment / rendered:.0f} %)")
    assert complete == one_segment == rendered


def test_the_sms_date_is_compact_and_keeps_weekday_day_month_and_time():
    assert french_compact_datetime(datetime(2026, 3, 10, 14, 30, tzinfo=PARIS)) == "mar. 10/03 à 14h30"
    assert french_compact_datetime(datetime(2026, 6, 1, 7, 5, tzinfo=ZoneInfo("UTC")), PARIS) == "lun. 01/06 à 9h05"
    assert french_compact_datetime(datetime(2026, 3, 12, 13, 30, tzinfo=ZoneInfo("UTC")),
                                   ZoneInfo("America/Guadeloupe")) == "jeu. 12/03 à 9h30"


def test_each_brand_sends_from_its_own_alphanumeric_sender(demo):
    assert {brand: sms_sender(brand) for brand in Brand.values} == {
        "rdv_service_public": "RDV S.P.", "rdv_solidarites": "RdvSoli", "rdv_aide_numerique": "RdvAideNum"}
    appointment = demo.book(motif=Motif.objects.filter(organisation=demo.arras, service__short_name="Service social").first())
    notification = Notification.objects.get(appointment=appointment, channel="sms")
    message, segments = prepare(notification)
    assert message.sender == "RdvSoli" and segments == 1
    assert message.body.startswith("RDV Service social")


def test_the_twilio_backend_sends_from_the_brand_sender(demo, twilio_standin):
    with override_settings(**twilio_standin.settings(from_="+33700000000")):
        appointment = demo.book()
        message, _ = prepare(Notification.objects.get(appointment=appointment, channel="sms"))
        [result] = get_sms_backend().send_messages([message])
    [sent] = twilio_standin.messages
    assert result.ok and sent.from_ == "RDV S.P." and sent.body == message.body


def test_without_a_sender_id_the_text_names_the_brand(demo):
    with override_settings(SMS_SENDER_IDS={}):
        appointment = demo.book()
        message, _ = prepare(Notification.objects.get(appointment=appointment, channel="sms"))
    assert message.sender == "" and message.body.startswith("RDV Service Public : RDV Titres")
    with override_settings(SMS_SENDER_RECEIVES_REPLIES=True):  # an id cannot receive replies
        assert sms_sender("rdv_service_public") == ""


@pytest.mark.parametrize("ids, error", [
    ({"rdv_service_public": "RDV Service Public"}, "notifications.E008"),  # over 11 characters
    ({"rdv_service_public": "RDV S.P. é"}, "notifications.E008"),
    ({"rdv_service_public": "0612345678"}, "notifications.E008"),
    ({"rdv_cuisine": "Cuisine"}, "notifications.E007"),
])
def test_sender_ids_are_checked_at_start(ids, error):
    with override_settings(SMS_SENDER_IDS=ids):
        assert [e.id for e in check_sms_sender_ids(None)] == [error]
    assert check_sms_sender_ids(None) == []


@override_settings(PUBLIC_BASE_URL=REAL_ORIGIN)
def test_a_short_name_is_required_and_must_fit_the_room_sms_leave(demo):
    room = short_name_room("rdv_service_public")
    assert 20 <= room <= 40
    service = Service(organisation=demo.lyon, name="Service des titres d'identité et des passeports")
    with pytest.raises(ValidationError) as error:
        service.full_clean()
    assert "short_name" in error.value.message_dict
    service.short_name = "T" * (room + 1)
    with pytest.raises(ValidationError) as error:
        service.full_clean()
    assert f"{room} au plus" in str(error.value)
    service.short_name = "Titres d’identité"[: room]  # the apostrophe counts once transliterated
    service.full_clean()
    # The room follows the link's length: a longer origin leaves less.
    with override_settings(PUBLIC_BASE_URL=REAL_ORIGIN + "/un/chemin/plus/long"):
        assert short_name_room("rdv_service_public") == room - len("/un/chemin/plus/long")


def test_every_demo_short_name_fits(demo):
    with override_settings(PUBLIC_BASE_URL=REAL_ORIGIN):
        for service in Service.objects.select_related("organisation"):
            service.full_clean()


def test_the_admin_shows_the_room_left_for_the_short_name(demo, admin_client):
    service = demo.cni.service
    page = admin_client.get(f"/admin/appointments/service/{service.pk}/change/").content.decode()
    room = short_name_room(demo.lyon.brand)
    assert f"17 caractères utilisés sur {room} : reste {room - 17}" in page
    response = admin_client.post(f"/admin/appointments/service/{service.pk}/change/", {
        "organisation": demo.lyon.pk, "name": service.name, "short_name": "T" * (room + 1)})
    assert response.status_code == 200 and "Trop long pour les SMS" in response.content.decode()


def test_a_booked_appointment_sms_is_the_compact_one(demo, committed, sms_outbox):
    with committed():
        appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    [sms] = sms_outbox
    assert sms.sender == "RDV S.P."
    assert sms.body == ("RDV Titres d'identité confirmé le mar. 15/12 à 10h00, sur place. "
                        f"Infos ou annulation : {appointment.link_url()}")
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 17, 14, 30, tzinfo=PARIS))
    assert sms_outbox[-1].body == ("RDV Titres d'identité déplacé du mar. 15/12 à 10h00 au jeu. 17/12 à 14h30, "
                                   f"sur place. Infos : {appointment.link_url()}")


def test_seed_demo_is_idempotent_with_required_short_names(demo):
    call_command("seed_demo", stdout=None)
    assert not Service.objects.filter(short_name="").exists()
