"""Which phone numbers may receive SMS: French mobiles, metropolitan and overseas.

Refusing everything else is both what the service needs and the first defence against
"SMS pumping" fraud (premium or foreign numbers entered in public forms).
"""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# France and the overseas departments, regions and collectivities that have their own
# region code in libphonenumber.
FRENCH_REGIONS = frozenset(
    {"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC"}
)
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)

NOT_A_FRENCH_MOBILE = _(
    "Ce numéro ne peut pas recevoir de SMS : seuls les numéros de téléphone mobile français "
    "(métropole et outre-mer) sont acceptés."
)


def is_french_mobile(number):
    """True for a valid mobile number of France or its overseas territories."""
    if not number:
        return False
    if isinstance(number, str):
        try:
            number = phonenumbers.parse(number, "FR")
        except phonenumbers.NumberParseException:
            return False
    if not phonenumbers.is_valid_number(number):
        return False
    return (
        phonenumbers.region_code_for_number(number) in FRENCH_REGIONS
        and phonenumbers.number_type(number) in _MOBILE_TYPES
    )


# Polynésie française, Nouvelle-Calédonie, Wallis-et-Futuna, Saint-Pierre-et-Miquelon: French
# numbers, but international SMS routes (billed as such, and a favourite of SMS pumping). Sent
# only for organisations that enable them (Organisation.international_sms).
INTERNATIONAL_ROUTE_PREFIXES = (689, 687, 681, 508)

INTERNATIONAL_ROUTE_OFF = _(
    "Ce service n'envoie pas de SMS vers la Polynésie française, la Nouvelle-Calédonie, "
    "Wallis-et-Futuna ni Saint-Pierre-et-Miquelon. Indiquez plutôt une adresse e-mail."
)


def _parsed(number):
    if isinstance(number, str):
        try:
            return phonenumbers.parse(number, "FR")
        except phonenumbers.NumberParseException:
            return None
    return number


def is_international_route(number):
    parsed = _parsed(number)
    return parsed is not None and parsed.country_code in INTERNATIONAL_ROUTE_PREFIXES


def can_text(number, organisation):
    """Does an SMS to `number` go out for `organisation`: a French mobile, on an international
    route only where the organisation enabled them."""
    return is_french_mobile(number) and (not is_international_route(number) or organisation.international_sms)


def validate_sms_number(number):
    if not is_french_mobile(number):
        raise ValidationError(NOT_A_FRENCH_MOBILE, code="not_french_mobile")
