"""The delivery loop back to the agent (issue 13, section 3): a carrier's "undeliverable" for
reasons of the number marks the number, later SMS to it are not attempted, the email goes
instead (once), agents see « SMS non remis — vérifier le numéro » on the appointment, in their
list and agenda and in a data-quality list, and correcting the number lifts the mark and
offers to resend."""

import base64
import html
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from twilio.request_validator import RequestValidator

from appointments.models import Channel, Contact
from notifications import unreachable
from notifications.delivery import deliver
from notifications.models import Event, Notification, Status, UnreachableNumber

from .factories import user

MOBILE = "+33612345678"
LABEL = "SMS non remis — vérifier le numéro"


def text(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


# --- The codes that are about the number ----------------------------------------------------

@pytest.mark.parametrize("provider, code", [
    ("twilio", "30003"), ("twilio", "30005"), ("twilio", "30006"), ("twilio", "21211"), ("twilio", "21614"),
    ("twilio", 21211), ("brevo", "hard_bounce"), ("brevo", "hardBounce"), ("brevo", "hardbounces"),
])
def test_codes_about_the_number(provider, code):
    assert unreachable.is_number_failure(provider, code)


@pytest.mark.parametrize("provider, code", [
    ("twilio", "21610"),  # opted out: the suppression list's business
    ("twilio", "30007"),  # carrier filtering: the content, not the number
    ("twilio", "30008"), ("twilio", "20429"), ("twilio", ""), ("brevo", "soft_bounce"), ("brevo", "rejected"),
    ("brevo", "blacklisted"), ("brevo", "invalid_parameter"), ("brevo", "30003"), ("locmem", "30003"), ("", "21211"),
])
def test_codes_not_about_the_number(provider, code):
    assert not unreachable.is_number_failure(provider, code)


def test_each_code_is_said_in_french_for_the_agent():
    assert unreachable.meaning("twilio", "30005") == "numéro inconnu ou qui n'existe plus"
    assert unreachable.meaning("twilio", "21614") == "ce numéro n'est pas un mobile"
    assert "numéro invalide ou inexistant" in unreachable.meaning("brevo", "hard_bounce")
    assert unreachable.meaning("twilio", "12345") == "12345"


# --- Marking, once ----------------------------------------------------------------------------

@pytest.fixture
def sms_only(demo, committed):
    """A booking whose contact gave a mobile only, the SMS confirmation sent; then the
    citizen's email is added (so its confirmation email was never planned)."""
    contact = demo.contact(email="", email_consent=False)
    with committed():
        appointment = demo.book(contacts=[contact])
    contact.email = "lea.dupont@exemple.fr"
    contact.save(update_fields=["email"])
    contact.record_consent(Channel.EMAIL, True, source="agent", agent=demo.camille)
    sms = Notification.objects.get(appointment=appointment, contact=contact, channel=Channel.SMS)
    assert sms.status == Status.SENT
    assert not Notification.objects.filter(appointment=appointment, contact=contact, channel=Channel.EMAIL).exists()
    return sms


def emails_of(sms):
    return Notification.objects.filter(appointment=sms.appointment, contact=sms.contact, event=sms.event,
                                       channel=Channel.EMAIL)


def test_a_number_failure_marks_the_number_and_the_email_goes_once(sms_only, committed):
    before = timezone.now()
    with committed():
        assert unreachable.sms_failed(sms_only, "30005", "twilio")
    mark = UnreachableNumber.objects.get()
    assert (mark.phone, mark.provider, mark.code, mark.notification) == (MOBILE, "twilio", "30005", sms_only)
    assert before <= mark.marked_at <= timezone.now()
    [email] = emails_of(sms_only)
    assert (email.status, email.to, email.sequence, email.stage) == (Status.SENT, "lea.dupont@exemple.fr", sms_only.sequence, 0)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["lea.dupont@exemple.fr"]
    with committed():  # a second report of the failure, by id this time
        assert unreachable.sms_failed(sms_only.pk, "30003", "twilio")
    assert UnreachableNumber.objects.get().code == "30005"  # the first report's code and date stay
    assert emails_of(sms_only).count() == 1 and len(mail.outbox) == 1


def test_other_failures_mark_nothing(sms_only, committed):
    with committed():
        assert not unreachable.sms_failed(sms_only, "30007", "twilio")
        assert not unreachable.sms_failed(sms_only, "hard_bounce", "twilio")
    assert not UnreachableNumber.objects.exists() and not emails_of(sms_only).exists()


def test_no_email_instead_of_a_cancellation_or_without_email_consent(sms_only, committed):
    sms_only.contact.record_consent(Channel.EMAIL, False, source="agent")
    with committed():
        assert unreachable.sms_failed(sms_only, "30003", "twilio")  # the number is marked all the same
    assert UnreachableNumber.objects.filter(phone=MOBILE).exists() and not emails_of(sms_only).exists()
    cancellation = Notification.objects.create(appointment=sms_only.appointment, contact=sms_only.contact,
                                               event=Event.CANCELLATION, channel=Channel.SMS,
                                               sequence=sms_only.sequence, to=MOBILE)
    assert unreachable.fall_back_to_email(cancellation, MOBILE) == []


# --- Through the real webhook: a signed Twilio status callback --------------------------------

@pytest.fixture
def via_twilio(twilio_standin):
    with override_settings(**twilio_standin.settings()):
        yield twilio_standin


def callback(client, standin, sms, status, code):
    path = f"/webhooks/twilio/status?n={sms.pk}"
    params = {"MessageSid": sms.provider_message_id, "MessageStatus": status, "ErrorCode": code,
              "AccountSid": standin.account_sid, "To": sms.to}
    signature = RequestValidator(standin.auth_token).compute_signature("https://rdv.example.fr" + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_an_undeliverable_callback_marks_the_number_emails_once_and_flags_the_appointment(
        via_twilio, demo, committed, camille_client):
    contact = demo.contact(email="", email_consent=False)
    with committed():
        appointment = demo.book(contacts=[contact])
    [sent] = via_twilio.messages
    sms = Notification.objects.get(appointment=appointment, channel=Channel.SMS)
    assert (sms.status, sms.provider, sms.provider_message_id) == (Status.SENT, "twilio", sent.sid)
    contact.email = "lea.dupont@exemple.fr"
    contact.save(update_fields=["email"])
    contact.record_consent(Channel.EMAIL, True, source="agent", agent=demo.camille)

    with committed():
        assert callback(camille_client, via_twilio, sms, "undelivered", "30003").status_code == 204
    sms.refresh_from_db()
    assert (sms.status, sms.error_code) == (Status.UNDELIVERED, "30003")
    mark = UnreachableNumber.objects.get()
    assert (mark.phone, mark.provider, mark.code, mark.notification_id) == (MOBILE, "twilio", "30003", sms.pk)
    [email] = emails_of(sms)
    assert email.status == Status.SENT and len(mail.outbox) == 1

    # A second failure report (Twilio's "failed" after "undelivered"), and a replay: no second email.
    with committed():
        assert callback(camille_client, via_twilio, sms, "failed", "30003").status_code == 204
        assert callback(camille_client, via_twilio, sms, "undelivered", "30003").status_code == 204
    assert emails_of(sms).count() == 1 and len(mail.outbox) == 1
    assert UnreachableNumber.objects.count() == 1

    # The agents see it: on the appointment's admin page, in their list and in the agenda.
    page = text(camille_client.get(f"/admin/appointments/appointment/{appointment.pk}/change/"))
    warning = re.search(r'<li class="warning">⚠ ' + LABEL + r" : ([^<]+)</li>", page)
    assert warning, "the flag at the top of the appointment's page"
    assert "Le numéro de Léa Dupont a été signalé injoignable" in warning[1] and "code 30003" in warning[1]
    assert "mobile injoignable" in warning[1]
    listing = text(camille_client.get("/admin/appointments/appointment/"))
    row = listing[listing.index(f"/admin/appointments/appointment/{appointment.pk}/change/"):]
    assert LABEL in row[:row.index("</tr>")]
    day = appointment.local_starts_at.date().isoformat()
    agenda = text(camille_client.get("/admin/appointments/appointment/agenda/", {"vue": "jour", "date": day}))
    item = agenda[agenda.index(f"/appointment/{appointment.pk}/change/"):]
    item = item[:item.index("</li>")]
    assert LABEL in item and "envoi en échec" not in item  # one flag, the one that says what to do


def test_a_brevo_hard_bounce_marks_the_number(brevo_standin, demo, committed, client):
    with override_settings(**brevo_standin.settings(), SMS_BACKEND="brevo"), committed():
        appointment = demo.book()
    [sent] = brevo_standin.messages
    url, event = brevo_standin.event(sent.message_id, "hard_bounce")
    parts = urlsplit(url)
    credentials = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    with override_settings(**brevo_standin.settings()), committed():
        response = client.post(f"{parts.path}?{parts.query}", json.dumps(event), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 204
    mark = UnreachableNumber.objects.get()
    assert (mark.phone, mark.provider, mark.code) == (MOBILE, "brevo", "hard_bounce")
    sms = Notification.objects.get(appointment=appointment, channel=Channel.SMS)
    assert mark.notification == sms and sms.status == Status.UNDELIVERED


def test_later_sms_to_the_number_are_not_attempted_and_their_email_goes_instead(via_twilio, demo, committed):
    """Send-time 21211 through the Twilio stand-in: the SMS fails, the number is marked; the
    next booking's SMS is never handed to Twilio, and its email goes."""
    via_twilio.fail_next(status=400, code=21211)
    with committed():
        first = demo.book()
    sms = Notification.objects.get(appointment=first, channel=Channel.SMS)
    assert (sms.status, sms.error_code, sms.provider) == (Status.FAILED, "21211", "twilio")
    mark = UnreachableNumber.objects.get()
    assert (mark.phone, mark.provider, mark.code) == (MOBILE, "twilio", "21211")
    # Its email was planned with it: not a second one.
    assert emails_of(sms).count() == 1 and len(mail.outbox) == 1
    requests = via_twilio.stats()["requests"]

    with committed():
        second = demo.book(days=9)  # a new contact row, the same number
    later = Notification.objects.get(appointment=second, channel=Channel.SMS)
    assert later.status == Status.CANCELLED and later.error_message == str(unreachable.REFUSAL)
    assert "signalé injoignable" in later.error_message
    assert via_twilio.stats()["requests"] == requests and len(via_twilio.messages) == 0
    assert Notification.objects.get(appointment=second, channel=Channel.EMAIL).status == Status.SENT


def test_an_sms_only_reminder_to_a_marked_number_becomes_an_email(demo, committed):
    with committed():
        appointment = demo.book()
    contact = appointment.contacts.get()
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30005")
    reminder = Notification.objects.create(appointment=appointment, contact=contact, event=Event.REMINDER,
                                           channel=Channel.SMS, sequence=appointment.sequence, stage=48, to=MOBILE)
    mail.outbox = []
    with committed():
        assert deliver(reminder.pk).status == Status.CANCELLED
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED and "signalé injoignable" in reminder.error_message
    email = Notification.objects.get(appointment=appointment, event=Event.REMINDER, channel=Channel.EMAIL)
    assert (email.stage, email.status, email.to) == (48, Status.SENT, contact.email)
    assert len(mail.outbox) == 1


# --- The data-quality list ------------------------------------------------------------------

DATA_QUALITY = "/admin/notifications/unreachablecontact/"


def test_the_data_quality_list_shows_the_agents_contacts_with_unreachable_numbers(camille_client, demo):
    marked = demo.contact(first_name="Léa", last_name="Dupont")
    demo.book(contacts=[marked])
    demo.contact(first_name="Hugo", last_name="Martin", phone="+33611111111")  # a number that works
    elsewhere = demo.contact(demo.arras, first_name="Zoé", last_name="Ailleurs")  # same number, another organisation
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30005")
    page = text(camille_client.get(DATA_QUALITY))
    assert "usagers aux numéros injoignables" in page.lower()
    assert "Léa Dupont" in page and "Hugo Martin" not in page and "Zoé" not in page
    row = page[page.index("Léa Dupont"):]
    row = row[:row.index("</tr>")]
    assert "numéro inconnu ou qui n'existe plus (twilio 30005)" in row
    assert timezone.localdate().strftime("%d/%m/%Y") in row
    assert f"/admin/appointments/contact/{marked.pk}/change/" in row and "corriger le numéro" in row
    assert ">1<" in row  # one appointment ahead

    # Checked with the citizen: the number is right, the mark is lifted (for every holder).
    response = camille_client.post(DATA_QUALITY, {"action": "lift_marks", "_selected_action": [marked.pk]}, follow=True)
    assert "1 numéro n'est plus signalé injoignable." in text(response)
    assert not UnreachableNumber.objects.exists()
    assert "Léa Dupont" not in text(camille_client.get(DATA_QUALITY))
    assert unreachable.mark_of(elsewhere) is None


def test_demo_agents_may_read_the_data_quality_list(demo):
    assert user("camille.martin").has_perm("notifications.view_unreachablecontact")


# --- Correcting the number -------------------------------------------------------------------

def contact_form(contact, phone):
    return {"first_name": contact.first_name, "last_name": contact.last_name, "phone": phone, "email": contact.email,
            "address": "", "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0"}


def test_correcting_the_number_lifts_the_mark_and_offers_to_resend(camille_client, demo, committed, sms_outbox):
    with committed():
        appointment = demo.book()
    contact = appointment.contacts.get()
    sms = Notification.objects.get(appointment=appointment, channel=Channel.SMS)
    with committed():
        Notification.objects.filter(pk=sms.pk).update(status=Status.UNDELIVERED, error_code="30005")
        unreachable.sms_failed(sms.pk, "30005", "twilio")
    assert UnreachableNumber.objects.filter(phone=MOBILE).exists()
    page = text(camille_client.get(f"/admin/appointments/contact/{contact.pk}/change/"))
    assert f"⚠ {LABEL} : Le numéro de Léa Dupont" in page  # on the citizen's page too

    response = camille_client.post(f"/admin/appointments/contact/{contact.pk}/change/",
                                   contact_form(contact, "06 98 76 54 32"), follow=True)
    page = text(response)
    assert f"Numéro de Léa Dupont corrigé : la marque « {LABEL} » est levée." in page
    assert "1 SMS de ses rendez-vous à venir n'a pas été remis à l'ancien numéro." in page
    offer = re.search(r'<form method="post" action="/admin/notifications/notification/" class="resend-offer">(.*?)</form>',
                      response.content.decode(), re.S)
    assert offer, "a button to resend"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]+)"', offer[1]))
    assert fields["action"] == "resend_selected" and fields["_selected_action"] == str(sms.pk)
    assert not UnreachableNumber.objects.exists()  # no contact holds the old number any more
    assert LABEL not in text(camille_client.get(f"/admin/appointments/appointment/{appointment.pk}/change/"))

    # The button: the notifications' own resend action, to the new number.
    with committed():
        done = camille_client.post("/admin/notifications/notification/", fields, follow=True)
    assert "1 notification renvoyée." in text(done)
    again = Notification.objects.get(appointment=appointment, channel=Channel.SMS, resend=1)
    assert (again.to, again.status) == ("+33698765432", Status.SENT)
    assert [message.to for message in sms_outbox][-1] == "+33698765432"


def test_the_mark_stays_for_another_contact_holding_the_number(camille_client, demo):
    first, other = demo.contact(), demo.contact(first_name="Hugo")
    UnreachableNumber.objects.create(phone=MOBILE, provider="brevo", code="hard_bounce")
    response = camille_client.post(f"/admin/appointments/contact/{first.pk}/change/",
                                   contact_form(first, "06 98 76 54 32"), follow=True)
    assert "corrigé" in text(response) and "renvoyer" not in text(response).lower()  # nothing to resend
    assert UnreachableNumber.objects.filter(phone=MOBILE).exists()
    assert unreachable.mark_of(other) is not None and unreachable.mark_of(Contact.objects.get(pk=first.pk)) is None


def test_saving_a_contact_without_changing_its_number_keeps_the_mark(camille_client, demo):
    contact = demo.contact()
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30003")
    response = camille_client.post(f"/admin/appointments/contact/{contact.pk}/change/",
                                   contact_form(contact, "06 12 34 56 78"))
    assert response.status_code == 302
    assert UnreachableNumber.objects.filter(phone=MOBILE).exists()


def test_no_phone_number_in_the_logs(sms_only, committed, caplog):
    caplog.set_level("DEBUG")
    with committed():
        unreachable.sms_failed(sms_only, "30003", "twilio")
        Contact.objects.filter(pk=sms_only.contact_id).update(phone="+33698765432")
        assert unreachable.number_corrected(Contact.objects.get(pk=sms_only.contact_id), MOBILE) == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unreachable" in logged
    for form in (MOBILE, "0612345678", "612345678", "lea.dupont"):
        assert form not in logged


def test_retention_forgets_a_marked_number_no_contact_holds(demo):
    from notifications.retention import apply_retention

    demo.contact()
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30003")
    UnreachableNumber.objects.create(phone="+33698765432", provider="twilio", code="30005")  # corrected since
    apply_retention()
    assert list(UnreachableNumber.objects.values_list("phone", flat=True)) == [MOBILE]


def test_the_list_and_the_agenda_flag_in_a_constant_number_of_queries(camille_client, demo):
    """Contacts with mobiles, one marked: the marks ask whether each can receive SMS, which
    must not cost a query per contact (their organisation comes with them)."""
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30003")
    first = demo.book(hour=9)
    day = {"vue": "jour", "date": first.local_starts_at.date().isoformat()}
    pages = ["/admin/appointments/appointment/", "/admin/appointments/appointment/agenda/"]
    for page in pages:
        camille_client.get(page, day if "agenda" in page else {})
    counts = {}
    for page in pages:
        with CaptureQueriesContext(connection) as few:
            assert LABEL in text(camille_client.get(page, day if "agenda" in page else {}))
        counts[page] = len(few)
    for hour in range(10, 16):
        demo.book(hour=hour, contacts=[demo.contact(first_name=f"U{hour}", phone=f"+3361111110{hour - 10}")])
    for page in pages:
        with CaptureQueriesContext(connection) as many:
            assert text(camille_client.get(page, day if "agenda" in page else {})).count(LABEL) >= 1
        assert len(many) == counts[page], page


# --- A mark that may pass -------------------------------------------------------------------


def test_a_temporary_mark_lapses_after_its_days_and_a_new_failure_renews_it(sms_only, committed, settings, time_machine):
    settings.UNREACHABLE_TEMPORARY_DAYS = 3
    time_machine.move_to(timezone.now(), tick=False)
    with committed():
        assert unreachable.sms_failed(sms_only, "30003", "twilio")
    assert unreachable.marked_among([MOBILE]) == {MOBILE}

    time_machine.shift(timedelta(days=2))
    with committed():  # the phone is still off: the mark lasts from this failure
        unreachable.sms_failed(sms_only, "30003", "twilio")
    time_machine.shift(timedelta(days=2))
    assert unreachable.marked_among([MOBILE]) == {MOBILE} and unreachable.mark_of(sms_only.contact) is not None

    time_machine.shift(timedelta(days=1, seconds=1))
    assert unreachable.marked_among([MOBILE]) == set() and unreachable.mark_of(sms_only.contact) is None
    assert unreachable.refusal(sms_only) is None  # the next SMS is attempted again
    assert [mark.phone for mark in unreachable.lapsed()] == [MOBILE]


def test_a_lasting_code_never_lapses_and_replaces_a_temporary_mark(sms_only, committed, settings, time_machine):
    settings.UNREACHABLE_TEMPORARY_DAYS = 3
    time_machine.move_to(timezone.now(), tick=False)
    with committed():
        unreachable.sms_failed(sms_only, "30003", "twilio")
        unreachable.sms_failed(sms_only, "30005", "twilio")
    time_machine.shift(timedelta(days=400))
    assert UnreachableNumber.objects.get().code == "30005"
    assert unreachable.marked_among([MOBILE]) == {MOBILE} and not unreachable.lapsed().exists()


def test_the_data_quality_list_leaves_out_lapsed_marks_and_retention_deletes_them(camille_client, demo, settings,
                                                                                   time_machine):
    from notifications.retention import apply_retention

    settings.UNREACHABLE_TEMPORARY_DAYS = 3
    demo.contact()
    other = demo.contact(first_name="Marc", last_name="Durand", phone="+33698765432")
    UnreachableNumber.objects.create(phone=MOBILE, provider="twilio", code="30003",
                                     marked_at=timezone.now() - timedelta(days=4))
    UnreachableNumber.objects.create(phone=str(other.phone), provider="twilio", code="30005",
                                     marked_at=timezone.now() - timedelta(days=4))
    page = camille_client.get(DATA_QUALITY).content.decode()
    assert "Durand" in page and "Dupont" not in page
    apply_retention()
    assert list(UnreachableNumber.objects.values_list("phone", flat=True)) == [str(other.phone)]
