import secrets
import zoneinfo
from datetime import timedelta, timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, MaxValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from .consent import consent_text_version
from .phones import can_text, is_french_mobile, NOT_A_FRENCH_MOBILE
from .zones import zone_for


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("« %(value)s » n'est pas un fuseau horaire connu."), params={"value": value})


class Brand(models.TextChoices):
    SERVICE_PUBLIC = "rdv_service_public", "RDV Service Public"
    SOLIDARITES = "rdv_solidarites", "RDV Solidarités"
    AIDE_NUMERIQUE = "rdv_aide_numerique", "RDV Aide Numérique"


class LocationType(models.TextChoices):
    ON_SITE = "on_site", _("sur place")
    PHONE = "phone", _("par téléphone")
    HOME = "home", _("à domicile")
    VISIO = "visio", _("en visioconférence")


class Organisation(models.Model):
    name = models.CharField(_("nom"), max_length=200)
    brand = models.CharField(_("marque"), max_length=32, choices=Brand.choices, default=Brand.SERVICE_PUBLIC)
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, blank=True, validators=[validate_time_zone],
        help_text=_("Laisser vide pour le fuseau par défaut du service."),
    )
    international_sms = models.BooleanField(
        _("SMS vers les routes internationales"), default=False,
        help_text=_("Envoyer des SMS aux numéros de Polynésie française (+689), Nouvelle-Calédonie (+687), "
                    "Wallis-et-Futuna (+681) et Saint-Pierre-et-Miquelon (+508), acheminés et facturés "
                    "comme des SMS internationaux."),
    )

    class Meta:
        verbose_name = _("organisation")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["name"], name="organisation_unique_name")]

    def __str__(self):
        return self.name

    def clean(self):
        # A zone that contradicts the organisation's own places would tell phone, video and
        # home appointments one time and on-site ones another.
        if self.time_zone and self.pk:
            others = sorted(set(self.places.exclude(time_zone="").exclude(time_zone=self.time_zone)
                                .values_list("time_zone", flat=True)))
            if others:
                raise ValidationError({"time_zone": _(
                    "Ce fuseau contredit celui de vos lieux (%(zones)s) : laissez-le vide ou corrigez les lieux."
                ) % {"zones": ", ".join(others)}})

    @property
    def brand_label(self):
        """The name citizens see as the sender of their SMS and emails."""
        return self.get_brand_display()


# Checks other apps run on a service's short name when it is saved, each a callable(service)
# returning (room it takes, room there is): the notifications app adds the room its SMS
# leave, since appointments knows nothing of SMS.
SHORT_NAME_CHECKS = []


class Service(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(_("nom"), max_length=200)
    short_name = models.CharField(
        _("nom court"), max_length=40,
        help_text=_("Le nom que portent les SMS quand le nom complet n'y tient pas : il doit tenir dans la place "
                    "qu'ils laissent (indiquée ci-dessous)."),
    )

    class Meta:
        verbose_name = _("service")
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="service_unique_name_per_organisation")
        ]

    def __str__(self):
        return self.name

    def short_name_room(self):
        """[(taken, room)] from every registered check; taken is None for characters a check cannot count."""
        return [check(self) for check in SHORT_NAME_CHECKS] if self.organisation_id else []

    def clean(self):
        # A short name that does not fit would make the SMS drop the service, which the
        # seed's SMS always names.
        for taken, room in self.short_name_room() if self.short_name else []:
            if taken is None or taken > room:
                raise ValidationError({"short_name": _(
                    "Trop long pour les SMS : %(taken)s caractères, %(room)s au plus pour cette marque."
                ) % {"taken": len(self.short_name), "room": room}})


class Place(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="places")
    name = models.CharField(_("nom"), max_length=200)
    address = models.CharField(_("adresse"), max_length=300)
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, blank=True, validators=[validate_time_zone],
        help_text=_("Pour les territoires d'outre-mer, par exemple America/Guadeloupe ou Indian/Reunion."),
    )

    class Meta:
        verbose_name = _("lieu")
        verbose_name_plural = _("lieux")
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="place_unique_name_per_organisation")
        ]

    def __str__(self):
        return f"{self.name} — {self.address}"

    @property
    def zone(self):
        return zone_for(self.organisation, self)

    def clean(self):
        if self.time_zone and self.organisation_id and self.organisation.time_zone and self.time_zone != self.organisation.time_zone:
            raise ValidationError({"time_zone": _(
                "L'organisation est dans le fuseau « %(zone)s » : laissez ce champ vide ou indiquez le même fuseau."
            ) % {"zone": self.organisation.time_zone}})


class Motif(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="motifs")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="motifs")
    name = models.CharField(_("nom"), max_length=200)
    default_duration_minutes = models.PositiveSmallIntegerField(
        _("durée par défaut (minutes)"), default=30, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    location_type = models.CharField(_("type de rendez-vous"), max_length=16, choices=LocationType.choices, default=LocationType.ON_SITE)
    bookable_publicly = models.BooleanField(_("réservable en ligne par les usagers"), default=False)
    instructions = models.TextField(
        _("instructions pour l'usager"), blank=True,
        help_text=_("Affichées à l'usager dans l'e-mail et sur la page du rendez-vous (documents à apporter…)."),
    )
    active = models.BooleanField(_("actif"), default=True)

    class Meta:
        verbose_name = _("motif")
        ordering = ["service__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "service", "name", "location_type"], name="motif_unique_per_service"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.get_location_type_display()})"

    def clean(self):
        if self.service_id and self.organisation_id and self.service.organisation_id != self.organisation_id:
            raise ValidationError({"service": _("Ce service n'appartient pas à l'organisation du motif.")})


class NotificationLevel(models.TextChoices):
    ALL = "all", _("toutes les prises de rendez-vous et modifications")
    OTHERS = "others", _("seulement celles faites par d'autres que moi")
    SOON = "soon", _("seulement celles des deux prochains jours")
    NONE = "none", _("aucune")


class Agent(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent",
                                verbose_name=_("compte utilisateur"))
    organisations = models.ManyToManyField(Organisation, related_name="agents", verbose_name=_("organisations"))
    services = models.ManyToManyField(Service, related_name="agents", blank=True, verbose_name=_("services"))
    notification_level = models.CharField(
        _("e-mails de rendez-vous reçus"), max_length=16, choices=NotificationLevel.choices, default=NotificationLevel.OTHERS
    )

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        ordering = ["user__last_name", "user__first_name"]

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("e-mail")


class ConsentSource(models.TextChoices):
    AGENT = "agent", _("saisi par un agent")
    CITIZEN = "citizen", _("donné par l'usager en ligne")
    INBOUND_SMS = "inbound_sms", _("réponse STOP par SMS")
    EMAIL_UNSUBSCRIBE = "email_unsubscribe", _("désinscription e-mail")
    UNSUBSCRIBE = "unsubscribe", _("désinscription depuis la page du rendez-vous")
    PROVIDER_OPT_OUT = "provider_opt_out", _("opposition enregistrée chez l'opérateur SMS")
    # A number or address that opted out earlier: giving it again (a new booking) does not
    # undo the opposition, which belongs to the number or address, not to one contact.
    SUPPRESSION_LIST = "suppression_list", _("coordonnées sur la liste d'opposition")


class Contact(models.Model):
    """A citizen, with the contact details they gave and their consent per channel.

    `sms_consent` and `email_consent` are the current state, kept in step with the
    append-only ConsentRecord log by `record_consent()`, so that sending needs no join.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(_("prénom"), max_length=150)
    last_name = models.CharField(_("nom"), max_length=150)
    phone = PhoneNumberField(_("téléphone"), blank=True, db_index=True)
    email = models.EmailField(_("adresse e-mail"), blank=True, db_index=True)
    address = models.CharField(_("adresse postale"), max_length=300, blank=True)
    sms_consent = models.BooleanField(_("consentement SMS"), default=False, editable=False)
    email_consent = models.BooleanField(_("consentement e-mail"), default=False, editable=False)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now, editable=False)
    anonymised_at = models.DateTimeField(_("anonymisé le"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("usager")
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["organisation", "last_name", "first_name"], name="contact_org_name_idx")]
        constraints = [
            # SMS consent only for a number that can take it (the French-mobile rule is checked
            # in clean(); the database at least refuses consent without a number).
            models.CheckConstraint(condition=~Q(sms_consent=True, phone=""), name="contact_sms_consent_needs_phone"),
            models.CheckConstraint(condition=~Q(email_consent=True, email=""), name="contact_email_consent_needs_email"),
        ]

    def __str__(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def initials(self):
        return (self.first_name[:1] + self.last_name[:1]).upper()

    def has_consent(self, channel):
        return self.sms_consent if channel == Channel.SMS else self.email_consent

    def can_receive_sms(self):
        return self.sms_consent and can_text(self.phone, self.organisation)

    def can_receive_email(self):
        return self.email_consent and bool(self.email)

    def check_consent(self, channel, granted):
        """Raise ValidationError if `granted` consent for `channel` can't apply to these details."""
        if not granted:
            return
        if channel == Channel.SMS:
            if not self.phone:
                raise ValidationError({"phone": _("Indiquez un numéro de mobile pour recevoir des SMS.")})
            if not is_french_mobile(self.phone):
                raise ValidationError({"phone": NOT_A_FRENCH_MOBILE})
        elif not self.email:
            raise ValidationError({"email": _("Indiquez une adresse e-mail pour recevoir des e-mails.")})

    @transaction.atomic
    def record_consent(self, channel, granted, *, source, agent=None, text_version=None, when=None):
        """Record a grant or withdrawal of consent, and update the current state.

        Nothing is written when the state does not change, so re-saving a form doesn't
        invent a new consent event.
        """
        self.check_consent(channel, granted)
        field = "sms_consent" if channel == Channel.SMS else "email_consent"
        if getattr(self, field) == granted and self.pk is not None:
            return None
        setattr(self, field, granted)
        if self.pk is None:
            self.save()
        else:
            Contact.objects.filter(pk=self.pk).update(**{field: granted})
        record = ConsentRecord.objects.create(
            contact=self, channel=channel, granted=granted, source=source, agent=agent,
            text_version=text_version or consent_text_version(), recorded_at=when or timezone.now(),
        )
        from .signals import consent_changed

        consent_changed.send(sender=Contact, contact=self, record=record)
        return record


class ConsentRecord(models.Model):
    """Append-only log of consent: what was agreed or withdrawn, when, how and by whom."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_records", verbose_name=_("usager"))
    channel = models.CharField(_("canal"), max_length=8, choices=Channel.choices)
    granted = models.BooleanField(_("accordé"))
    recorded_at = models.DateTimeField(_("date"), default=timezone.now)
    source = models.CharField(_("origine"), max_length=24, choices=ConsentSource.choices)
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("agent"))
    text_version = models.CharField(_("version du texte affiché"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("consentement")
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["contact", "channel", "-recorded_at"], name="consent_contact_channel_idx")]

    def __str__(self):
        verb = _("accordé") if self.granted else _("retiré")
        return f"{self.get_channel_display()} {verb} ({self.get_source_display()})"


class AppointmentStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("confirmé")
    CANCELLED_BY_AGENT = "cancelled_by_agent", _("annulé par l'agent")
    CANCELLED_BY_CITIZEN = "cancelled_by_citizen", _("annulé par l'usager")
    DONE = "done", _("honoré")
    NOSHOW = "noshow", _("absence de l'usager")


CANCELLED_STATUSES = (AppointmentStatus.CANCELLED_BY_AGENT, AppointmentStatus.CANCELLED_BY_CITIZEN)


class BookedBy(models.TextChoices):
    AGENT = "agent", _("un agent")
    CITIZEN = "citizen", _("l'usager")


def end_of(starts_at, minutes):
    """The end, `minutes` after the start, counted in UTC: arithmetic on a zone-aware local
    time is wall-clock arithmetic that drops `fold`, so a start in the second occurrence of
    the repeated autumn hour would end an hour before it begins."""
    return starts_at.astimezone(dt_timezone.utc) + timedelta(minutes=minutes)


# The public path of the appointment link page (routed by the public pages as "r/<token>").
LINK_PREFIX = "/r/"


def new_token():
    # 64 random bits in 11 URL-safe characters: unguessable, and short enough for an SMS.
    return secrets.token_urlsafe(8)


class Appointment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="appointments", editable=False)
    motif = models.ForeignKey(Motif, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("motif"))
    location_type = models.CharField(_("type de rendez-vous"), max_length=16, choices=LocationType.choices)
    place = models.ForeignKey(Place, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments", verbose_name=_("lieu"))
    address = models.CharField(_("adresse (à domicile)"), max_length=300, blank=True)
    visio_url = models.URLField(_("lien de visioconférence"), blank=True)
    starts_at = models.DateTimeField(_("début"))
    duration_minutes = models.PositiveSmallIntegerField(_("durée (minutes)"), validators=[MinValueValidator(5), MaxValueValidator(480)])
    ends_at = models.DateTimeField(_("fin"), editable=False)
    status = models.CharField(_("statut"), max_length=24, choices=AppointmentStatus.choices, default=AppointmentStatus.CONFIRMED)
    cancellation_reason = models.TextField(_("motif d'annulation"), blank=True)
    cancelled_at = models.DateTimeField(_("annulé le"), null=True, blank=True, editable=False)
    agents = models.ManyToManyField(Agent, through="AppointmentAgent", related_name="appointments", verbose_name=_("agents"))
    contacts = models.ManyToManyField(Contact, through="Participation", related_name="appointments", verbose_name=_("usagers"))
    booked_by = models.CharField(_("pris par"), max_length=8, choices=BookedBy.choices, default=BookedBy.AGENT, editable=False)
    booked_by_agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False,
                                        verbose_name=_("réservé par"))
    booked_at = models.DateTimeField(_("pris le"), default=timezone.now, editable=False)
    # Grows with each change or cancellation: the iCalendar SEQUENCE, and what tells one
    # change notification from the next.
    sequence = models.PositiveIntegerField(_("nombre de modifications"), default=0, editable=False)
    token = models.CharField(_("clé du lien de l'usager"), max_length=16, unique=True, default=new_token, editable=False)

    class Meta:
        verbose_name = _("rendez-vous")
        verbose_name_plural = _("rendez-vous")
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["organisation", "starts_at"], name="appointment_org_start_idx"),
            models.Index(fields=["place", "starts_at"], name="appointment_place_start_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"),
            models.CheckConstraint(
                condition=~Q(location_type=LocationType.ON_SITE, place__isnull=True), name="appointment_on_site_needs_place"
            ),
        ]

    def __str__(self):
        return f"{self.motif.name} — {self.local_starts_at:%d/%m/%Y %H:%M}"

    # --- Derived values other apps need -------------------------------------------------

    @property
    def zone(self):
        return zone_for(self.organisation, self.place if self.place_id else None)

    @property
    def local_starts_at(self):
        return timezone.localtime(self.starts_at, self.zone)

    @property
    def service(self):
        return self.motif.service

    @property
    def is_cancelled(self):
        return self.status in CANCELLED_STATUSES

    def link_url(self):
        """The "lien utile" put in every SMS and email: short, and free of personal data."""
        return f"{settings.PUBLIC_BASE_URL}{LINK_PREFIX}{self.token}"

    def rebook_url(self):
        """Where a citizen books again after a cancellation: the same motif's booking pages."""
        return f"{self.link_url()}/reprendre"

    def can_be_rebooked_online(self):
        return self.motif.bookable_publicly and self.motif.active

    def is_cancellable(self, now=None):
        return self.status == AppointmentStatus.CONFIRMED and self.starts_at > (now or timezone.now())

    def address_line(self):
        """Where the appointment happens, as one line for a citizen."""
        if self.location_type == LocationType.ON_SITE and self.place_id:
            return f"{self.place.name}, {self.place.address}"
        if self.location_type == LocationType.HOME:
            return self.address or _("à votre domicile")
        if self.location_type == LocationType.PHONE:
            return _("par téléphone : l'agent vous appellera")
        if self.location_type == LocationType.VISIO:
            return self.visio_url or _("en visioconférence : le lien vous sera communiqué")
        return ""

    # --- Invariants ---------------------------------------------------------------------

    def clean(self):
        errors = {}
        if self.motif_id:
            if not self.location_type:
                self.location_type = self.motif.location_type
            if not self.duration_minutes:
                self.duration_minutes = self.motif.default_duration_minutes
        if self.location_type == LocationType.ON_SITE and not self.place_id:
            errors["place"] = _("Un rendez-vous sur place a besoin d'un lieu.")
        if self.place_id and self.motif_id and self.place.organisation_id != self.motif.organisation_id:
            errors["place"] = _("Ce lieu n'appartient pas à l'organisation du motif.")
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.motif_id and not self.organisation_id:
            self.organisation_id = self.motif.organisation_id
        if self.motif_id and not self.location_type:
            self.location_type = self.motif.location_type
        if not self.duration_minutes and self.motif_id:
            self.duration_minutes = self.motif.default_duration_minutes
        self.ends_at = end_of(self.starts_at, self.duration_minutes)
        super().save(*args, **kwargs)

    def sync_agent_slots(self):
        """Copy the time range and status onto the rows that guard agents' calendars."""
        AppointmentAgent.objects.filter(appointment=self).update(
            starts_at=self.starts_at, ends_at=self.ends_at, active=self.status == AppointmentStatus.CONFIRMED
        )

    def overlapping_for_agents(self, agent_ids):
        """Confirmed appointments of these agents that overlap this one's time range."""
        return AppointmentAgent.objects.filter(
            agent_id__in=agent_ids, active=True, starts_at__lt=self.ends_at, ends_at__gt=self.starts_at
        ).exclude(appointment_id=self.pk)


class AppointmentAgent(models.Model):
    """An agent's part in an appointment, with the time range copied here so that the
    database itself can refuse overlapping confirmed appointments for one agent
    (an exclusion constraint on PostgreSQL, see migration 0002)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="agent_slots",
                                    verbose_name=_("rendez-vous"))
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="slots", verbose_name=_("agent"))
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    active = models.BooleanField(_("confirmé"), default=True)

    class Meta:
        verbose_name = _("agent du rendez-vous")
        verbose_name_plural = _("agents du rendez-vous")
        constraints = [models.UniqueConstraint(fields=["appointment", "agent"], name="appointment_agent_unique")]
        indexes = [models.Index(fields=["agent", "starts_at"], name="appointment_agent_start_idx")]

    def __str__(self):
        return str(self.agent)

    def save(self, *args, **kwargs):
        self.starts_at = self.appointment.starts_at
        self.ends_at = self.appointment.ends_at
        self.active = self.appointment.status == AppointmentStatus.CONFIRMED
        super().save(*args, **kwargs)


class Participation(models.Model):
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="participations",
                                    verbose_name=_("rendez-vous"))
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="participations", verbose_name=_("usager"))

    class Meta:
        verbose_name = _("usager du rendez-vous")
        verbose_name_plural = _("usagers du rendez-vous")
        constraints = [models.UniqueConstraint(fields=["appointment", "contact"], name="participation_unique")]

    def __str__(self):
        return str(self.contact)


# Python's weekday numbers, as OpeningHours.weekdays stores them, with the names agents tick.
WEEKDAYS = [(0, _("lundi")), (1, _("mardi")), (2, _("mercredi")), (3, _("jeudi")), (4, _("vendredi")),
            (5, _("samedi")), (6, _("dimanche"))]


class OpeningHours(models.Model):
    """A weekly opening (plage d'ouverture) of an agent at a place, for some motifs."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="opening_hours", editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="opening_hours", verbose_name=_("agent"))
    place = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="opening_hours", verbose_name=_("lieu"))
    motifs = models.ManyToManyField(Motif, related_name="opening_hours", verbose_name=_("motifs"))
    weekdays = models.JSONField(_("jours de la semaine"), default=list)
    start_time = models.TimeField(_("de"))
    end_time = models.TimeField(_("à"))
    valid_from = models.DateField(_("à partir du"))
    valid_until = models.DateField(_("jusqu'au"), null=True, blank=True)

    class Meta:
        verbose_name = _("plage d'ouverture")
        verbose_name_plural = _("plages d'ouverture")
        constraints = [
            # French messages: the admin's forms validate constraints and show them to agents.
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="opening_hours_end_after_start",
                violation_error_message=_("L'heure de fin doit être après l'heure de début."),
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="opening_hours_valid_range",
                violation_error_message=_("La date de fin de validité doit être le jour de début ou après."),
            ),
        ]

    def __str__(self):
        return f"{self.agent} — {self.place.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self):
        if not isinstance(self.weekdays, list) or not self.weekdays or any(
            not isinstance(day, int) or not 0 <= day <= 6 for day in self.weekdays
        ):
            raise ValidationError({"weekdays": _("Cochez au moins un jour de la semaine.")})

    def weekday_names(self):
        """"lundi, mardi, jeudi": the days as agents read them (the list shows this, not [0, 1, 3])."""
        names = dict(WEEKDAYS)
        return ", ".join(str(names[day]) for day in sorted(self.weekdays) if day in names)

    def save(self, *args, **kwargs):
        self.organisation_id = self.place.organisation_id
        self.weekdays = sorted(set(self.weekdays))
        super().save(*args, **kwargs)

    def is_open_on(self, day):
        return day.weekday() in self.weekdays and self.valid_from <= day and (
            self.valid_until is None or day <= self.valid_until
        )
