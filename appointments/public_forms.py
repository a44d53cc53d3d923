"""Forms of the citizens' public pages (DSFR look through django-dsfr's DsfrBaseForm)."""

import re
import unicodedata
from functools import cache

from django import forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from dsfr.forms import DsfrBaseForm, DsfrDjangoTemplates
from phonenumber_field.formfields import PhoneNumberField

from .consent import consent_text
from .models import Channel, ConsentSource, Contact, LocationType
from .phones import INTERNATIONAL_ROUTE_OFF, NOT_A_FRENCH_MOBILE, can_text, is_french_mobile

HONEYPOT_FIELD = "site_web"

# Names go word for word into official SMS and emails: letters, with the spaces, hyphens,
# apostrophes and dots of real names ("Jean-Marie", "N'Diaye", "St. Clair"), nothing else — no
# digits, no emoji, no "http://", and no dot glued to letters ("phish.example").
NAME_PATTERN = re.compile(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?")
GLUED_DOT = re.compile(r"\.[^\W\d_]")
# Free text (a home address): no links, no email addresses.
LINK_PATTERN = re.compile(r"://|www\.|@|[^\W_]\.[^\W\d_]{2,}", re.IGNORECASE)


def check_name(value, field_label):
    if not NAME_PATTERN.fullmatch(value) or GLUED_DOT.search(value):
        raise ValidationError(
            _("Le champ « %(field)s » ne peut contenir que des lettres, des espaces, des traits d'union et des "
              "apostrophes (pas de chiffres, de liens ni d'émojis)."),
            code="invalid_name", params={"field": field_label},
        )
    return value


def check_free_text(value):
    if value and not any(char.isalpha() for char in value):
        raise ValidationError(_("Indiquez une adresse avec au moins un nom de rue ou de commune."), code="no_letters")
    if LINK_PATTERN.search(value or ""):
        raise ValidationError(_("Ce champ ne peut pas contenir de lien ni d'adresse e-mail."), code="link")
    return value


class PublicForm(DsfrBaseForm):
    """DsfrBaseForm with one form renderer per process. django-dsfr's default_renderer is the
    renderer *class*, which Django instantiates for every form: a new template engine each
    time, every field template parsed again (about 4 ms per page). One instance keeps its
    engine and its cached template loader."""

    default_renderer = DsfrDjangoTemplates()


class HoneypotMixin:
    """A field people don't see and naive bots fill in. A filled honeypot fails the form
    with a neutral message."""

    def add_honeypot(self):
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            label=_("Ne pas remplir ce champ"), required=False,
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )

    def check_honeypot(self):
        if self.cleaned_data.get(HONEYPOT_FIELD):
            raise ValidationError(_("Votre demande n'a pas pu être traitée. Merci de réessayer."), code="honeypot")


class ContactDetailsForm(HoneypotMixin, PublicForm):
    first_name = forms.CharField(label=_("Prénom"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Nom"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    phone = PhoneNumberField(
        label=_("Téléphone mobile"), required=False, region="FR",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        error_messages={"invalid": _("Saisissez un numéro de téléphone valide, par exemple 06 12 34 56 78.")},
    )
    email = forms.EmailField(
        label=_("Adresse e-mail"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"invalid": _("Saisissez une adresse e-mail valide, par exemple nom@domaine.fr.")},
    )
    address = forms.CharField(label=_("Adresse postale du rendez-vous"), max_length=300, required=False,
                              widget=forms.TextInput(attrs={"autocomplete": "street-address"}))
    # No consent box: giving a number or an address is the consent (see consent.py); the
    # sentence saying so is stated next to each field.

    def __init__(self, *args, motif, **kwargs):
        super().__init__(*args, **kwargs)
        self.motif = motif
        self.add_honeypot()
        if motif.location_type == LocationType.HOME:
            self.fields["address"].required = True
        else:
            del self.fields["address"]
        phone_help = _("Format attendu : 06 12 34 56 78 ou +590 690 12 34 56")
        if motif.location_type == LocationType.PHONE:
            self.fields["phone"].required = True
            self.fields["phone"].label = _("Téléphone")
            phone_help = _("L'agent vous appellera à ce numéro. Format attendu : 06 12 34 56 78")
        self.fields["phone"].help_text = f"{phone_help}. {consent_text('sms')}"
        self.fields["email"].help_text = f"{_('Format attendu : nom@domaine.fr')}. {consent_text('email')}"
        # DsfrBaseForm built the bound fields already, and a BoundField copies its help text
        # when built: drop them so that they are built again with the texts above.
        for name in ("phone", "email"):
            self._bound_fields_cache.pop(name, None)

    @property
    def sms_capable(self):
        """Does the number given reach SMS (a French mobile)?"""
        phone = self.cleaned_data.get("phone")
        return bool(phone) and can_text(phone, self.motif.organisation)

    def clean_first_name(self):
        return check_name(unicodedata.normalize("NFC", " ".join(self.cleaned_data["first_name"].split())), _("Prénom"))

    def clean_last_name(self):
        return check_name(unicodedata.normalize("NFC", " ".join(self.cleaned_data["last_name"].split())), _("Nom"))

    def clean_address(self):
        return check_free_text(" ".join(self.cleaned_data["address"].split()))

    def clean(self):
        cleaned = super().clean()
        self.check_honeypot()
        phone, email = cleaned.get("phone"), cleaned.get("email")
        if not phone and not email and "phone" not in self.errors and "email" not in self.errors:
            raise ValidationError(_("Indiquez un numéro de téléphone ou une adresse e-mail (ou les deux)."), code="no_contact")
        # The mobile field is there for SMS: a number that cannot receive them is refused,
        # except for a phone appointment, where the agent calls it (and no SMS is promised).
        if phone and self.motif.location_type != LocationType.PHONE:
            if not is_french_mobile(phone):
                self.add_error("phone", NOT_A_FRENCH_MOBILE)
            elif not can_text(phone, self.motif.organisation):
                self.add_error("phone", INTERNATIONAL_ROUTE_OFF)
        return cleaned

    def save_contact(self, organisation):
        """Create the contact and record, per channel, the consent that giving the detail is:
        when, through the citizen, with the version of the sentence shown next to the field."""
        data = self.cleaned_data
        contact = Contact.objects.create(
            organisation=organisation, first_name=data["first_name"], last_name=data["last_name"],
            phone=data.get("phone") or "", email=data.get("email") or "", address=data.get("address") or "",
        )
        if self.sms_capable:
            contact.record_consent(Channel.SMS, True, source=ConsentSource.CITIZEN)
        if data.get("email"):
            contact.record_consent(Channel.EMAIL, True, source=ConsentSource.CITIZEN)
        return contact

    def probe_contact(self):
        """An unsaved contact holding what the form would record, to say who gets what."""
        data = self.cleaned_data
        return Contact(organisation=self.motif.organisation, first_name=data.get("first_name", ""), last_name=data.get("last_name", ""),
                       phone=data.get("phone") or "", email=data.get("email") or "",
                       sms_consent=self.sms_capable, email_consent=bool(data.get("email")))


def _initial_letter(value):
    """The first letter, upper-case, without accent: "é" -> "E"."""
    value = unicodedata.normalize("NFKD", (value or "").strip())
    letters = [c for c in value if c.isalpha()]
    return letters[0].upper() if letters else ""


class InitialsForm(HoneypotMixin, PublicForm):
    first_initial = forms.CharField(
        label=_("Première lettre du prénom"), max_length=1, min_length=1,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": "2", "autocapitalize": "characters"}),
    )
    last_initial = forms.CharField(
        label=_("Première lettre du nom"), max_length=1, min_length=1,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": "2", "autocapitalize": "characters"}),
    )

    def __init__(self, *args, contacts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.contacts = contacts
        self.add_honeypot()

    def clean(self):
        cleaned = super().clean()
        self.check_honeypot()
        given = (_initial_letter(cleaned.get("first_initial")), _initial_letter(cleaned.get("last_initial")))
        if "" in given:
            if not self.errors:
                raise ValidationError(_("Indiquez une lettre dans chaque champ."), code="not_a_letter")
            return cleaned
        expected = {(_initial_letter(c.first_name), _initial_letter(c.last_name)) for c in self.contacts}
        if given not in expected:
            raise ValidationError(_("Ces initiales ne correspondent pas à celles de la personne ayant pris le rendez-vous."), code="wrong_initials")
        return cleaned


def blank_initials_form_html():
    """The empty initials form as HTML: the same for every link and every visitor (the CSRF
    token is outside it), rendered once per process and language rather than on each of the
    thousands of visits an SMS campaign brings."""
    return _blank_initials_form_html(get_language())


@cache
def _blank_initials_form_html(language):
    return render_to_string("appointments/public/_form.html", {"form": InitialsForm()})


class ButtonForm(HoneypotMixin, PublicForm):
    """A one-button action of the link page: nothing to type, but the honeypot."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_honeypot()

    def clean(self):
        cleaned = super().clean()
        self.check_honeypot()
        return cleaned


class CancelForm(ButtonForm):
    """"Annuler le rendez-vous" on the appointment's link page."""


class UnsubscribeForm(ButtonForm):
    """"Ne plus recevoir de SMS / d'e-mails" on the appointment's link page."""

    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.HiddenInput)

