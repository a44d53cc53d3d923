"""Consent is recorded per channel with when, how, by whom and which text; SMS goes only
to French mobiles."""

import pytest
from django.core.exceptions import ValidationError

from appointments.consent import CONSENT_TEXT_VERSION
from appointments.models import Channel, ConsentRecord, Contact
from appointments.phones import is_french_mobile


@pytest.mark.parametrize("number", ["+33612345678", "07 81 23 45 67", "+590690001234", "+262692123456", "+596696123456",
                                    "+594694123456", "+262639401234", "+687751234", "+68987123456"])
def test_french_mobiles_metropolitan_and_overseas_are_accepted(number):
    assert is_french_mobile(number)


@pytest.mark.parametrize("number", ["+33140000000", "01 40 00 00 00", "+590590123456", "+447700900123", "+33899123456",
                                    "06 12", "not a number", ""])
def test_landlines_foreign_premium_and_garbage_are_refused(number):
    assert not is_french_mobile(number)


def test_granting_consent_records_when_how_by_whom_and_the_text_version(demo):
    contact = Contact.objects.create(organisation=demo.lyon, first_name="Léa", last_name="Dupont", phone="+33612345678")
    record = contact.record_consent(Channel.SMS, True, source="agent", agent=demo.camille)
    contact.refresh_from_db()
    assert contact.sms_consent is True and contact.email_consent is False
    assert (record.channel, record.granted, record.source, record.agent, record.text_version) == (
        "sms", True, "agent", demo.camille, CONSENT_TEXT_VERSION)
    assert record.recorded_at is not None


def test_withdrawal_is_a_new_record_and_unchanged_state_writes_nothing(demo):
    contact = demo.contact(sms=True, email_consent=False)
    assert contact.record_consent(Channel.SMS, True, source="agent", agent=demo.camille) is None
    contact.record_consent(Channel.SMS, False, source="inbound_sms")
    contact.refresh_from_db()
    assert contact.sms_consent is False
    assert list(ConsentRecord.objects.filter(contact=contact).order_by("recorded_at", "pk").values_list("granted", "source")) == [
        (True, "agent"), (False, "inbound_sms")]


def test_sms_consent_on_a_landline_is_refused_with_a_french_message(demo):
    contact = Contact.objects.create(organisation=demo.lyon, first_name="Léa", last_name="Dupont", phone="+33140000000")
    with pytest.raises(ValidationError) as error:
        contact.record_consent(Channel.SMS, True, source="agent", agent=demo.camille)
    assert "mobile français" in str(error.value)
    contact.refresh_from_db()
    assert contact.sms_consent is False and not contact.consent_records.exists()


def test_email_consent_needs_an_address(demo):
    contact = Contact.objects.create(organisation=demo.lyon, first_name="Léa", last_name="Dupont")
    with pytest.raises(ValidationError):
        contact.record_consent(Channel.EMAIL, True, source="citizen")


def test_the_database_refuses_consent_without_details(demo):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(organisation=demo.lyon, first_name="A", last_name="B", sms_consent=True)
