"""Forms used by agents in the admin. Consent and local times are handled here, once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .consent import CONSENT_TEXTS
from .models import Agent, Appointment, CANCELLED_STATUSES, Channel, Contact


class ContactAdminForm(forms.ModelForm):
    """A contact with one consent checkbox per channel, the consent text beside it."""

    sms_consent_given = forms.BooleanField(label=_("Consentement SMS recueilli"), required=False, help_text=CONSENT_TEXTS["sms"])
    email_consent_given = forms.BooleanField(label=_("Consentement e-mail recueilli"), required=False, help_text=CONSENT_TEXTS["email"])

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "phone", "email", "address"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["sms_consent_given"] = self.instance.sms_consent
            self.initial["email_consent_given"] = self.instance.email_consent

    def clean(self):
        cleaned = super().clean()
        probe = Contact(phone=cleaned.get("phone") or "", email=cleaned.get("email") or "")
        for channel, field in ((Channel.SMS, "sms_consent_given"), (Channel.EMAIL, "email_consent_given")):
            try:
                probe.check_consent(channel, cleaned.get(field))
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned

    def save_consents(self, contact, agent):
        """Record what the agent ticked or unticked, as consent given through an agent."""
        for channel, field in ((Channel.SMS, "sms_consent_given"), (Channel.EMAIL, "email_consent_given")):
            contact.record_consent(channel, self.cleaned_data[field], source="agent", agent=agent)


class AppointmentAdminForm(forms.ModelForm):
    """The start is entered as a date and a time in the place's own time zone."""

    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    time = forms.TimeField(label=_("Heure (heure locale du lieu)"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    assigned_agents = forms.ModelMultipleChoiceField(label=_("Agents"), queryset=Agent.objects.none())
    visio_url = forms.URLField(label=_("Lien de visioconférence"), required=False, assume_scheme="https")
    participating_contacts = forms.ModelMultipleChoiceField(label=_("Usagers"), queryset=Contact.objects.none())

    class Meta:
        model = Appointment
        fields = ["motif", "location_type", "place", "address", "visio_url", "duration_minutes", "status", "cancellation_reason"]

    def __init__(self, *args, agents_queryset=None, contacts_queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_agents"].queryset = agents_queryset if agents_queryset is not None else Agent.objects.all()
        self.fields["participating_contacts"].queryset = contacts_queryset if contacts_queryset is not None else Contact.objects.all()
        self.fields["location_type"].required = False
        self.fields["duration_minutes"].required = False
        self.fields["location_type"].help_text = _("Laisser vide pour le type du motif.")
        self.fields["duration_minutes"].help_text = _("Laisser vide pour la durée du motif.")
        instance = self.instance
        if instance.pk:
            local = instance.local_starts_at
            self.initial.update(
                date=local.date(), time=local.time().replace(second=0, microsecond=0),
                assigned_agents=list(instance.agents.all()), participating_contacts=list(instance.contacts.all()),
            )
            # Contacts stay as they were booked; a cancelled appointment can't come back.
            self.fields["participating_contacts"].disabled = True
            if instance.is_cancelled:
                for field in self.fields.values():
                    field.disabled = True
        else:
            self.fields["status"].disabled = True
            self.fields["cancellation_reason"].disabled = True

    def clean(self):
        cleaned = super().clean()
        motif, place = cleaned.get("motif"), cleaned.get("place")
        if motif and not cleaned.get("location_type"):
            cleaned["location_type"] = motif.location_type
        if motif and not cleaned.get("duration_minutes"):
            cleaned["duration_minutes"] = motif.default_duration_minutes
        if cleaned.get("date") and cleaned.get("time"):
            if place:
                zone = place.zone
            else:
                zone = ZoneInfo((motif.organisation.time_zone if motif else "") or settings.TIME_ZONE)
            naive = datetime.combine(cleaned["date"], cleaned["time"])
            cleaned["starts_at"] = timezone.make_aware(naive, zone)
            self._check_agents_free(cleaned)
        status = cleaned.get("status")
        if status in CANCELLED_STATUSES and not self.instance.is_cancelled:
            if not cleaned.get("cancellation_reason", "").strip():
                self.add_error("cancellation_reason", _("Indiquez le motif de l'annulation."))
        return cleaned

    def _check_agents_free(self, cleaned):
        """Say early, on the form, that an agent is already booked (the services check it
        again under the database's guarantee)."""
        if not cleaned.get("assigned_agents") or cleaned.get("status", "confirmed") != "confirmed":
            return
        probe = Appointment(pk=self.instance.pk, starts_at=cleaned["starts_at"])
        probe.ends_at = probe.starts_at + timedelta(minutes=cleaned.get("duration_minutes") or 30)
        busy = probe.overlapping_for_agents([a.pk for a in cleaned["assigned_agents"]]).select_related("agent__user")
        for slot in busy[:3]:
            self.add_error("assigned_agents", _("%(agent)s a déjà un rendez-vous sur ce créneau.") % {"agent": slot.agent})

    def _post_clean(self):
        # The instance gets starts_at before model validation runs.
        if "starts_at" in self.cleaned_data:
            self.instance.starts_at = self.cleaned_data["starts_at"]
        super()._post_clean()
