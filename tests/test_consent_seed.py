"""Consent as the seed defines it: giving a number or an address IS the consent, stated next
to each field and recorded at booking (citizens and agents); the confirmation page and the
agent's form say exactly who will receive what."""

import html
import math
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.test import override_settings
from django.utils import timezone

from appointments.consent import CONSENT_TEXT_VERSION
from appointments.models import Appointment, ConsentRecord, Contact, Motif

from .public_pages import CONTACT, book, first_slot_url, slot_start, text
from .support.dates import last_afternoon, upcoming
from .factories import appointment_form, next_weekday
from .notifying import planned_due

PARIS = ZoneInfo("Europe/Paris")


def test_the_form_has_no_consent_box_and_states_the_consent_next_to_each_field(demo, client):
    page = text(client.get(first_slot_url(client, demo.cni, demo.lyon_place)))
    assert 'type="checkbox"' not in page and "sms_consent" not in page and "email_consent" not in page
    phone_help = re.search(r'id="id_phone_helptext">([^<]+)<', page).group(1)
    email_help = re.search(r'id="id_email_helptext">([^<]+)<', page).group(1)
    assert "En indiquant votre numéro de mobile, vous acceptez de recevoir par SMS" in phone_help
    assert "En indiquant votre adresse e-mail, vous acceptez de recevoir par e-mail" in email_help


def test_a_citizen_who_gives_both_details_is_told_on_both_channels(demo, client, committed, sms_outbox):
    from django.core import mail

    with committed():
        response = book(client, first_slot_url(client, demo.cni, demo.lyon_place),
                        {"sms_consent": "", "email_consent": ""})  # unticked boxes of an old page: ignored
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == ["+33612345678"]
    assert [m.to for m in mail.outbox if "lea.dupont@exemple.fr" in m.to] == [["lea.dupont@exemple.fr"]]
    contact = Contact.objects.get()
    for record in ConsentRecord.objects.filter(contact=contact):
        assert (record.granted, record.source, record.text_version) == (True, "citizen", CONSENT_TEXT_VERSION)
        assert abs((timezone.now() - record.recorded_at).total_seconds()) < 60


def hours_until(url):
    return (slot_start(url) - timezone.now()).total_seconds() / 3600


def test_the_pages_promise_a_reminder_only_beyond_the_reminder_delay(demo, client, time_machine):
    # A Monday at 6:00, a week ahead: the first slot (9:00) is hours away, room for a delay before it.
    time_machine.move_to(upcoming(0, 6, zone=PARIS, after_days=7), tick=True)
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    ahead = hours_until(url)
    assert 2 < ahead < 4, ahead
    # The first slot starts later than this delay: a reminder will go out.
    with override_settings(REMINDER_DELAY_HOURS=math.floor(ahead) - 1):
        recap = text(client.post(url, CONTACT))
        assert "puis un rappel" in recap and "aucun rappel" not in recap
    # ...and earlier than this one: the page says no reminder, and none is planned.
    with override_settings(REMINDER_DELAY_HOURS=math.ceil(ahead) + 1):
        recap = text(client.post(url, CONTACT))
        assert "aucun rappel ne sera envoyé" in recap and "puis un rappel" not in recap
        done = text(client.get(book(client, url).url))
        told = re.search(r'id="who-is-told">\s*<p>([^<]+)</p>', done).group(1)
        assert told.startswith("Vous recevrez la confirmation par SMS au 06 12 34 56 78 et par e-mail à "
                               "lea.dupont@exemple.fr")
        assert f"moins de {math.ceil(ahead) + 1} heures : aucun rappel" in told and "puis un rappel" not in told
        assert planned_due(Appointment.objects.get()) == []


def test_a_landline_and_no_email_warns_that_nothing_will_be_sent(demo, client):
    motif = Motif.objects.get(name="Entretien téléphonique avec une assistante sociale")
    url = first_slot_url(client, motif)
    data = {"phone": "01 42 76 40 40", "email": ""}
    recap = text(client.post(url, {**CONTACT, **data}))
    assert "Vous ne recevrez aucun message pour ce rendez-vous" in recap and "fr-alert--warning" in recap
    done = text(client.get(book(client, url, data).url))
    assert "Vous ne recevrez aucun message pour ce rendez-vous" in done
    assert "n'est pas un numéro de mobile français" in done
    contact = Contact.objects.get()
    assert not contact.sms_consent and not contact.email_consent and not contact.consent_records.exists()


def test_the_agent_is_told_who_receives_what_and_warned_about_who_gets_nothing(camille_client, demo):
    reachable = demo.contact()
    unreachable = demo.contact(first_name="Zoé", last_name="Martin", phone="+33142764040", email="", sms=False,
                               email_consent=False)
    response = camille_client.post("/admin/appointments/appointment/add/", appointment_form(
        demo, reachable, day=next_weekday(10), participating_contacts=[reachable.pk, unreachable.pk]), follow=True)
    page = html.unescape(response.content.decode())
    assert ("Léa Dupont recevra la confirmation par SMS au 06 12 34 56 78 et par e-mail à lea.dupont@exemple.fr, "
            "puis un rappel 48 heures avant le rendez-vous") in page
    assert "Zoé Martin ne recevra aucun message" in page
    assert re.search(r'class="warning">[^<]*Zoé Martin ne recevra aucun message', page)
    appointment = Appointment.objects.get()
    change = html.unescape(camille_client.get(f"/admin/appointments/appointment/{appointment.pk}/change/").content.decode())
    assert "Ce que les usagers recevront" in change and "Zoé Martin ne recevra aucun message" in change


def test_the_agent_form_says_no_reminder_within_the_delay(camille_client, demo, time_machine):
    # An afternoon (the latest 14:00): after midnight, the 48-hour touch of tomorrow 23:30 falls in
    # the quiet hours and, already past, moves to their end — a reminder after all.
    time_machine.move_to(last_afternoon(PARIS))
    contact = demo.contact()
    tomorrow = timezone.localdate() + timedelta(days=1)  # 23:30 tomorrow: always under 48 hours away
    response = camille_client.post("/admin/appointments/appointment/add/", appointment_form(
        demo, contact, day=tomorrow, time="23:30", confirm_unusual="on"), follow=True)  # outside opening hours
    page = html.unescape(response.content.decode())
    assert planned_due(Appointment.objects.get()) == []
    assert "Léa Dupont recevra la confirmation" in page and "aucun rappel ne sera envoyé" in page
