"""The suppression list: numbers and addresses that opted out, whatever contact gave them.

`suppress()` is the one way in (STOP replies, Twilio's opt-out signals, the link page, ESP
unsubscribes, withdrawals through an agent — the latter two through the consent_changed
receiver); every contact holding that number or address loses its consent on the channel,
recorded with the same source. Delivery checks the list again just before sending, so a
number typed later into another contact is covered too.
"""

import logging

import phonenumbers
from django.db import transaction

from appointments.models import Channel, Contact

from .models import Suppression

log = logging.getLogger(__name__)


def normalise(channel, address):
    """E.164 for a phone number ("06 12 34 56 78" -> "+33612345678"), lower case for an email."""
    address = str(address or "").strip()
    if not address:
        return ""
    if channel == Channel.EMAIL:
        return address.lower()
    try:
        number = phonenumbers.parse(address, "FR")
    except phonenumbers.NumberParseException:
        return address
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_address(contact, channel):
    return normalise(channel, contact.phone if channel == Channel.SMS else contact.email)


def is_suppressed(channel, address):
    address = normalise(channel, address)
    return bool(address) and Suppression.objects.filter(channel=channel, address=address).exists()


def suppressed_among(channel, addresses):
    """The addresses of `addresses` on the list (as given), in one query: what a batch checks."""
    normalised = {address: normalise(channel, address) for address in addresses}
    listed = set(Suppression.objects.filter(channel=channel, address__in={a for a in normalised.values() if a})
                 .values_list("address", flat=True))
    return {address for address, normal in normalised.items() if normal in listed}


def contacts_with(channel, address):
    if channel == Channel.SMS:
        return Contact.objects.filter(phone=address, sms_consent=True)
    return Contact.objects.filter(email__iexact=address, email_consent=True)


@transaction.atomic
def suppress(channel, address, *, source):
    """Put the number or address on the list and withdraw the consent of every contact that
    holds it. Returns the number of contacts whose consent was withdrawn."""
    address = normalise(channel, address)
    if not address:
        return 0
    Suppression.objects.get_or_create(channel=channel, address=address, defaults={"source": source})
    count = 0
    for contact in contacts_with(channel, address):
        contact.record_consent(channel, False, source=source)
        count += 1
    log.info("suppression list: %s address added (%s), consent withdrawn for %d contact(s)", channel, source, count)
    return count
