"""Who will be told what about an appointment, in words for the citizen and for the agent.

What the confirmation page and the agent's form promise must be what happens: SMS only to a
French mobile whose holder has not opted out, email only to an address that has not, the
reminders the motif's schedule will still send (notifications/ decides them and says them in
words: `register_reminders`), and a plain warning when a contact will get nothing at all.

The contact's consent state is the truth here: notifications/ withdraws it at once when a
number or address is on the suppression list, so this module needs to know nothing of SMS
providers, lists or reminder schedules.
"""

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .phones import can_text, is_french_mobile

CITIZEN, AGENT = "citizen", "agent"


_reminders = None


def register_reminders(provider):
    """`provider(motif, place, starts_at, now, sms=bool, email=bool) -> (words, reason)`:
    `words` the reminders this contact will receive ("un rappel 48 heures avant le
    rendez-vous"), or "" and `reason`, a clause saying why none will come ("le rendez-vous
    commence dans moins de 48 heures")."""
    global _reminders
    _reminders = provider


def reminders(motif, place, starts_at, now=None, *, sms=True, email=True):
    """(words, reason) as the registered provider says; nothing promised without one."""
    if _reminders is None:
        return "", ""
    return _reminders(motif, place, starts_at, now or timezone.now(), sms=sms, email=email)


def _phone(contact):
    phone = contact.phone
    return phone.as_national if hasattr(phone, "as_national") else str(phone)


@dataclass
class Reach:
    name: str
    sms_to: str = ""
    email_to: str = ""
    notes: list = field(default_factory=list)  # why a detail given gets nothing

    @property
    def nothing(self):
        return not self.sms_to and not self.email_to


def reach(contact, audience=CITIZEN):
    """Where this contact's messages go, and why a detail they gave gets none."""
    result = Reach(name=contact.full_name)
    if contact.phone:
        if not is_french_mobile(contact.phone):
            result.notes.append(_("pas de SMS : le %(phone)s n'est pas un numéro de mobile français")
                                % {"phone": _phone(contact)})
        elif contact.organisation_id and not can_text(contact.phone, contact.organisation):
            result.notes.append(_("pas de SMS : ce service n'envoie pas de SMS vers ce territoire (route internationale)"))
        elif not contact.sms_consent:
            result.notes.append(_("pas de SMS : ce numéro a demandé à ne plus recevoir de SMS") if audience == CITIZEN
                                else _("pas de SMS : l'usager les a refusés ou s'est désinscrit"))
        else:
            result.sms_to = _phone(contact)
    if contact.email:
        if contact.email_consent:
            result.email_to = contact.email
        else:
            result.notes.append(_("pas d'e-mail : cette adresse a demandé à ne plus recevoir d'e-mails")
                                if audience == CITIZEN else _("pas d'e-mail : l'usager les a refusés ou s'est désinscrit"))
    return result


def _channels(r):
    if r.sms_to and r.email_to:
        return _("par SMS au %(phone)s et par e-mail à %(email)s") % {"phone": r.sms_to, "email": r.email_to}
    if r.sms_to:
        return _("par SMS au %(phone)s") % {"phone": r.sms_to}
    return _("par e-mail à %(email)s") % {"email": r.email_to}


def sentences(contact, starts_at, audience=CITIZEN, now=None, *, motif=None, place=None):
    """(sentence, is_warning) saying what this contact will receive."""
    r = reach(contact, audience)
    notes = "".join(f" ({note})" for note in r.notes)
    if r.nothing:
        if audience == CITIZEN:
            return _("Vous ne recevrez aucun message pour ce rendez-vous (ni SMS, ni e-mail)%(notes)s : notez bien "
                     "sa date, son heure et le lien ci-dessous.") % {"notes": notes}, True
        return _("%(name)s ne recevra aucun message (ni SMS : pas de mobile pouvant en recevoir, ni e-mail)%(notes)s : "
                 "prévenez-le vous-même.") % {"name": r.name, "notes": notes}, True
    who = _("Vous recevrez") if audience == CITIZEN else _("%(name)s recevra") % {"name": r.name}
    words, reason = reminders(motif, place, starts_at, now, sms=bool(r.sms_to), email=bool(r.email_to))
    if words:
        text = _("%(who)s la confirmation %(channels)s, puis %(reminders)s, et un message pour toute modification ou "
                 "annulation%(notes)s.")
    else:
        text = _("%(who)s la confirmation %(channels)s, et un message pour toute modification ou annulation"
                 "%(notes)s.")
        if reason:
            text += " " + _("%(reason)s : aucun rappel ne sera envoyé.") % {"reason": capfirst(reason)}
    return text % {"who": who, "channels": _channels(r), "reminders": words, "notes": notes}, False
