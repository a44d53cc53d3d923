"""Forms used by agents in the admin. Consent and local times are handled here, once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .consent import AGENT, consent_text
from .models import (
    CANCELLED_STATUSES,
    Agent,
    Appointment,
    Channel,
    ConsentSource,
    Contact,
    OpeningHours,
    WEEKDAYS,
    end_of,
)
from . import dates, reach, slots
from .phones import is_french_mobile
from .zones import zone_for

# A start this far in the past is taken as a mistake until the agent confirms it (recording an
# appointment that has just happened is common, last week's is not).
PAST_TOLERANCE = timedelta(hours=3)
# Further ahead than this, the year is probably mistyped.
FAR_AHEAD = timedelta(days=366)


class ContactAdminForm(forms.ModelForm):
    """A contact as an agent types it in for a citizen.

    Giving a number or an address is the consent, as on the public pages: the sentence the
    agent reads to the citizen is stated next to each field, and the consent is recorded
    (through this agent, with the text's version) when the detail is saved. A citizen who
    does not want messages on a channel is recorded with the "ne veut pas" box.
    """

    sms_refused = forms.BooleanField(label=_("L'usager ne veut pas recevoir de SMS"), required=False)
    email_refused = forms.BooleanField(label=_("L'usager ne veut pas recevoir d'e-mails"), required=False)

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "phone", "email", "address"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].help_text = _("Seul un mobile français reçoit des SMS. %(consent)s") % {
            "consent": consent_text("sms", AGENT)}
        self.fields["email"].help_text = consent_text("email", AGENT)
        self.consent_before = {Channel.SMS: self.instance.sms_consent, Channel.EMAIL: self.instance.email_consent}
        if self.instance.pk:
            self.initial["sms_refused"] = bool(self.instance.phone) and not self.instance.sms_consent
            self.initial["email_refused"] = bool(self.instance.email) and not self.instance.email_consent

    def wanted(self, channel):
        """Consent on this channel as the form now says: the detail given, not refused."""
        data = self.cleaned_data
        if channel == Channel.SMS:
            return bool(data.get("phone")) and is_french_mobile(data["phone"]) and not data.get("sms_refused")
        return bool(data.get("email")) and not data.get("email_refused")

    def save_withdrawals(self, contact, agent):
        """Before saving the details: withdraw what no longer holds (the database refuses
        consent without a number or address, so this must come first)."""
        if contact.pk is None:
            return
        for channel in (Channel.SMS, Channel.EMAIL):
            if self.consent_before[channel] and not self.wanted(channel):
                contact.record_consent(channel, False, source=ConsentSource.AGENT, agent=agent)

    def save_grants(self, contact, agent):
        """After saving the details: record the consent that giving them is."""
        for channel in (Channel.SMS, Channel.EMAIL):
            if self.wanted(channel) and not self.consent_before[channel]:
                contact.record_consent(channel, True, source=ConsentSource.AGENT, agent=agent)


class OpeningHoursAdminForm(forms.ModelForm):
    """Opening hours with the weekdays as French checkboxes (the model stores [0, 1, 2, 3, 4])."""

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Jours de la semaine"), choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Cochez au moins un jour de la semaine."),
                        "invalid_choice": _("« %(value)s » n'est pas un jour de la semaine.")},
    )

    class Meta:
        model = OpeningHours
        fields = ["agent", "place", "motifs", "weekdays", "start_time", "end_time", "valid_from", "valid_until"]


class AppointmentAdminForm(forms.ModelForm):
    """The start is entered as a date and a time in the place's own time zone."""

    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    time = forms.TimeField(label=_("Heure (heure locale du lieu)"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    assigned_agents = forms.ModelMultipleChoiceField(label=_("Agents"), queryset=Agent.objects.none())
    visio_url = forms.URLField(label=_("Lien de visioconférence"), required=False, assume_scheme="https")
    participating_contacts = forms.ModelMultipleChoiceField(label=_("Usagers"), queryset=Contact.objects.none())
    # Hidden until the start needs it (see unusual_start()): then a box to tick.
    confirm_unusual = forms.BooleanField(
        label=_("Je confirme cette date et cette heure malgré l'avertissement"), required=False,
        widget=forms.HiddenInput,
    )

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
            organisation = motif.organisation if motif else place.organisation if place else None
            zone = zone_for(organisation, place) if organisation else ZoneInfo(settings.TIME_ZONE)
            naive = datetime.combine(cleaned["date"], cleaned["time"])
            cleaned["starts_at"] = timezone.make_aware(naive, zone)
            self._check_agents_free(cleaned)
            self._check_unusual_start(cleaned)
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
        probe.ends_at = end_of(probe.starts_at, cleaned.get("duration_minutes") or 30)
        busy = probe.overlapping_for_agents([a.pk for a in cleaned["assigned_agents"]]).select_related("agent__user")
        for slot in busy[:3]:
            self.add_error("assigned_agents", _("%(agent)s a déjà un rendez-vous sur ce créneau.") % {"agent": slot.agent})

    def _check_unusual_start(self, cleaned):
        """A start in the past, outside the agents' opening hours or over a year ahead is
        refused until the agent ticks the confirmation, which says what will and won't be
        sent. `self.unusual` keeps the sentences, to repeat them once saved."""
        self.unusual = []
        if cleaned.get("status", "confirmed") != "confirmed" or not cleaned.get("assigned_agents"):
            return
        starts_at = cleaned["starts_at"]
        duration = cleaned.get("duration_minutes") or 30
        instance = self.instance
        if instance.pk and instance.starts_at == starts_at and instance.duration_minutes == duration and set(
            cleaned["assigned_agents"]
        ) == set(instance.agents.all()):
            return  # the time was not touched: an edit of something else
        self.unusual = unusual_start(
            starts_at, end_of(starts_at, duration), list(cleaned["assigned_agents"]), cleaned.get("place"),
            change=bool(instance.pk), motif=cleaned.get("motif"),
        )
        if self.unusual and not cleaned.get("confirm_unusual"):
            self.fields["confirm_unusual"].widget = forms.CheckboxInput()
            for sentence in self.unusual:
                self.add_error("confirm_unusual", sentence)

    def _post_clean(self):
        # The instance gets starts_at before model validation runs.
        if "starts_at" in self.cleaned_data:
            self.instance.starts_at = self.cleaned_data["starts_at"]
        super()._post_clean()


def unusual_start(starts_at, ends_at, agents, place=None, *, change=False, now=None, motif=None):
    """Sentences (French) on what is unusual about this start and what the citizen will and
    won't receive because of it; empty when nothing is."""
    now = now or timezone.now()
    zone = place.zone if place is not None else None
    when = dates.french_datetime(starts_at, zone or timezone.get_default_timezone())
    found = []
    if starts_at < now - PAST_TOLERANCE:
        found.append(_("Le %(when)s est passé : aucun message ne sera envoyé pour ce rendez-vous, ni à l'usager "
                       "ni aux agents (ni confirmation, ni rappel).") % {"when": when})
        return found  # nothing is sent whatever the opening hours: one sentence is enough
    if starts_at > now + FAR_AHEAD:
        found.append(_("Le %(when)s est dans plus d'un an : vérifiez l'année.") % {"when": when})
    closed = slots.agents_outside_opening_hours(agents, starts_at, ends_at, place)
    if closed:
        message = _("modification") if change else _("confirmation")
        words, reason = reach.reminders(motif, place, starts_at, now)
        if words:
            sent = _("L'usager recevra quand même la %(message)s, puis %(reminders)s.") % {
                "message": message, "reminders": words}
        else:
            sent = _("L'usager recevra quand même la %(message)s, mais aucun rappel : %(reason)s.") % {
                "message": message, "reason": reason}
        found.append(_("Le %(when)s est en dehors des plages d'ouverture de %(agents)s%(place)s. %(sent)s") % {
            "when": when, "agents": ", ".join(str(a) for a in closed),
            "place": _(" à %(place)s") % {"place": place.name} if place is not None else "",
            "sent": sent,
        })
    return found
