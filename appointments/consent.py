"""The consent sentences shown next to a citizen's phone number and email address.

As the modelled service's documentation puts it: "En fournissant les coordonnées (numéro de
téléphone et/ou adresse e-mail), l'usager donne un consentement explicite à leur collecte et
à leur traitement dans le cadre de la gestion des rendez-vous." Giving a number or an address
*is* the consent: there is no separate box to tick. The sentence is stated next to each field
(to the citizen on the public pages, to the agent who types the details in the admin), and
the version shown is stored with each consent record, so that what was agreed can be read
back later. Change a text => bump CONSENT_TEXT_VERSION.

"Répondez STOP" is promised only when the SMS sender can receive replies
(SMS_SENDER_RECEIVES_REPLIES): alphanumeric sender ids, the French norm, cannot. The
version then carries "+stop", since the citizen read a different sentence.
"""

from django.conf import settings
from django.utils.translation import gettext as _

CONSENT_TEXT_VERSION = "2026-12-v2"

CITIZEN, AGENT = "citizen", "agent"


def stop_promised():
    return bool(getattr(settings, "SMS_SENDER_RECEIVES_REPLIES", False))


def consent_text_version():
    return CONSENT_TEXT_VERSION + ("+stop" if stop_promised() else "")


def consent_text(channel, audience=CITIZEN):
    """The sentence next to the phone ("sms") or email ("email") field."""
    if audience == AGENT:
        if channel == "sms":
            text = _("En donnant son numéro de mobile, l'usager accepte de recevoir par SMS la confirmation, les "
                     "modifications, l'annulation et le rappel de ses rendez-vous. Il peut y renoncer à tout moment "
                     "depuis la page de son rendez-vous (lien dans chaque message)")
        else:
            text = _("En donnant son adresse e-mail, l'usager accepte de recevoir par e-mail la confirmation, les "
                     "modifications, l'annulation et le rappel de ses rendez-vous. Il peut y renoncer à tout moment "
                     "depuis la page de son rendez-vous (lien dans chaque message)")
    elif channel == "sms":
        text = _("En indiquant votre numéro de mobile, vous acceptez de recevoir par SMS la confirmation, les "
                 "modifications, l'annulation et le rappel de vos rendez-vous. Vous pouvez y renoncer à tout moment "
                 "depuis la page de votre rendez-vous (lien dans chaque message)")
    else:
        text = _("En indiquant votre adresse e-mail, vous acceptez de recevoir par e-mail la confirmation, les "
                 "modifications, l'annulation et le rappel de vos rendez-vous. Vous pouvez y renoncer à tout moment "
                 "depuis la page de votre rendez-vous (lien dans chaque message)")
    if channel == "sms" and stop_promised():
        text += _(" ou en répondant STOP")
    return text + "."
