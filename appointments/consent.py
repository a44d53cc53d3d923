"""The consent text shown to whoever gives a citizen's contact details.

The text is versioned: each consent record stores the version that was shown, so that
what a citizen agreed to can be read back later. Change the text => bump the version.
"""

from django.utils.translation import gettext_lazy as _

CONSENT_TEXT_VERSION = "2026-11-v1"

CONSENT_TEXTS = {
    "sms": _(
        "J'accepte que mon numéro de téléphone mobile soit utilisé pour m'envoyer par SMS la "
        "confirmation, les modifications, l'annulation et le rappel de mes rendez-vous. "
        "Je peux retirer ce consentement à tout moment en répondant STOP."
    ),
    "email": _(
        "J'accepte que mon adresse e-mail soit utilisée pour m'envoyer la confirmation, les "
        "modifications, l'annulation et le rappel de mes rendez-vous. "
        "Je peux retirer ce consentement à tout moment."
    ),
}
