"""Caps on what we send, against SMS pumping and harassment (issue 10, item 2).

- The public budget (SMS_BUDGET_PUBLIC_PER_HOUR): the most SMS that unauthenticated actions
  (a public booking, a cancellation from the link page) may trigger in an hour, all numbers
  together. Decided when the action plans its messages, in the web process: beyond it the
  booking still stands and its email still goes, but the SMS record is created 'limited' with
  the reason, and a warning is logged. Agents' actions and reminders do not draw on it.
- Per recipient (SMS_PER_NUMBER_PER_DAY, EMAIL_PER_ADDRESS_PER_DAY): the most messages one
  phone number or email address receives in a day, all events and every contact sharing it
  together. Decided by the send task just before handing the message over: beyond it the
  record ends 'limited'.

Counted in Django's cache (appointments.ratelimit): Redis in production (CACHE_URL), shared by
the web processes and the workers. Windows start at the first message counted (an hour, a day).
"""

import logging

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from appointments import ratelimit
from appointments.models import Channel

from .models import Status

log = logging.getLogger(__name__)

PUBLIC_BUDGET_RULE = "sms_public_budget"
PUBLIC_BUDGET_CODE = "public_budget"
RECIPIENT_CODE = "recipient_daily"
HOUR, DAY = 3600, 86400

PUBLIC_BUDGET_REASON = _("Non envoyé : plafond horaire des SMS déclenchés depuis les pages publiques atteint "
                         "(SMS_BUDGET_PUBLIC_PER_HOUR).")
RECIPIENT_REASON = _("Non envoyé : ce destinataire a déjà reçu le nombre maximal de messages pour la journée.")


def public_budget_state():
    """What operators look at: {"used", "limit", "exhausted"} for the current hour's window."""
    used = ratelimit.used(PUBLIC_BUDGET_RULE, "all")
    limit = settings.SMS_BUDGET_PUBLIC_PER_HOUR
    return {"used": min(used, limit), "refused": max(0, used - limit), "limit": limit, "exhausted": used >= limit}


def withhold_over_public_budget(rows):
    """Mark the unsaved SMS records of a public action that the hour's budget cannot take."""
    for row in rows:
        if row.channel != Channel.SMS or row.contact is None:
            continue
        if not ratelimit.consume(PUBLIC_BUDGET_RULE, "all", settings.SMS_BUDGET_PUBLIC_PER_HOUR, HOUR):
            row.status = Status.LIMITED
            row.error_code = PUBLIC_BUDGET_CODE
            row.error_message = str(PUBLIC_BUDGET_REASON)
            log.warning("public SMS budget reached (%s/h): the %s SMS of appointment %s is not sent",
                        settings.SMS_BUDGET_PUBLIC_PER_HOUR, row.event, row.appointment_id)


def recipient_allows(channel, address):
    """Count one message to this number or address; False beyond its daily limit."""
    return recipients_allow([(channel, address)])[0]


def recipients_allow(messages):
    """recipient_allows() for many (channel, address), in order (one Redis round trip for a
    batch's chunk rather than one or two per message); a list of booleans."""
    return ratelimit.consume_many([
        (f"{channel}_per_recipient", address.strip().lower(),
         settings.SMS_PER_NUMBER_PER_DAY if channel == Channel.SMS else settings.EMAIL_PER_ADDRESS_PER_DAY, DAY)
        for channel, address in messages
    ])
