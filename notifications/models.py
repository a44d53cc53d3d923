"""What was (or is to be) told to whom: one Notification per recipient, event, channel and
version of the appointment, plus the log of delivery statuses coming back, and the local
outboxes that stand in for the SMS and email providers in development."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.models import Agent, Appointment, Channel, ConsentSource, Contact, Motif, Organisation

from . import schedule
from .sms.routes import split_names, validate_provider_names


class Event(models.TextChoices):
    CONFIRMATION = "confirmation", _("confirmation")
    CHANGE = "change", _("modification")
    CANCELLATION = "cancellation", _("annulation")
    REMINDER = "reminder", _("rappel")


class Status(models.TextChoices):
    PENDING = "pending", _("à envoyer")
    SENDING = "sending", _("envoi en cours")
    SENT = "sent", _("envoyé")
    DELIVERED = "delivered", _("délivré")
    UNDELIVERED = "undelivered", _("non délivré")
    # The recipient's server refused for now (mailbox full, greylisting): the provider keeps
    # trying, so a later "delivered" may still follow.
    SOFT_BOUNCED = "soft_bounced", _("refusé temporairement (nouvel essai en cours)")
    BOUNCED = "bounced", _("rejeté par le destinataire")
    FAILED = "failed", _("échec")
    CANCELLED = "cancelled", _("annulé (plus à envoyer)")
    # A worker died between claiming the record and recording the provider's answer: the
    # message may or may not have gone out. An agent checks (and may resend); a late status
    # callback from the provider settles it on its own.
    UNCERTAIN = "uncertain", _("à vérifier")
    # Never handed to a provider because a cap was reached (notifications/limits.py): the
    # public SMS budget of the hour, or the recipient's daily limit. The reason is on the record.
    LIMITED = "limited", _("non envoyé (plafond atteint)")


IN_FLIGHT = (Status.PENDING, Status.SENDING)
RESENDABLE = (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED, Status.SOFT_BOUNCED, Status.UNCERTAIN,
              Status.CANCELLED, Status.LIMITED, Status.SENT, Status.DELIVERED)


class Notification(models.Model):
    """One message to one recipient (a contact, or an agent for agents' emails) about one
    event of one version (`sequence`) of an appointment, on one channel.

    The unique constraints are what make "never twice" hold whatever runs twice: a second
    signal, a second sweep, a retried task. An agent's deliberate resend is a new row with
    `resend` + 1.
    """

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("rendez-vous"))
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications", verbose_name=_("usager"))
    # No index of its own: deleting an agent finds their records through the partial unique
    # index notification_once_per_agent (agents' records only), and nothing else looks them up.
    recipient_agent = models.ForeignKey(Agent, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications",
                                        verbose_name=_("agent destinataire"), db_index=False)
    event = models.CharField(_("événement"), max_length=16, choices=Event.choices)
    channel = models.CharField(_("canal"), max_length=8, choices=Channel.choices)
    sequence = models.PositiveIntegerField(_("version du rendez-vous"))
    resend = models.PositiveSmallIntegerField(_("renvoi n°"), default=0)
    # For a reminder: its touch in the motif's schedule (hours before the start); 0 otherwise.
    # In the unique key, so that a second touch of one version is not taken for a duplicate.
    stage = models.PositiveSmallIntegerField(_("rappel (heures avant)"), default=0)
    # For a reminder SMS: the recipient's other appointments of that day it names too (one
    # reminder SMS per number and day, see reminders.one_sms_per_day()).
    also = models.JSONField(_("autres rendez-vous du jour nommés"), default=list, blank=True)
    # For a change: what the appointment was before, as shown to the citizen.
    previous = models.JSONField(_("avant la modification"), default=dict, blank=True)

    # Indexed only while in flight (notification_status_age_idx below): no query reads a
    # settled status through an index, and every status change would rewrite one.
    status = models.CharField(_("statut"), max_length=16, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(_("prestataire"), max_length=32, blank=True)
    provider_message_id = models.CharField(_("identifiant chez le prestataire"), max_length=255, blank=True)
    error_code = models.CharField(_("code d'erreur"), max_length=32, blank=True)
    error_message = models.TextField(_("erreur"), blank=True)
    segments = models.PositiveSmallIntegerField(_("segments SMS"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    to = models.CharField(_("destinataire"), max_length=254)
    subject = models.CharField(_("objet"), max_length=255, blank=True)
    body = models.TextField(_("texte envoyé"), blank=True)

    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    claimed_at = models.DateTimeField(_("prise en charge le"), null=True, blank=True)
    # The worker process that claimed it (liveness.py): a dead one's records are settled at once.
    claimed_by = models.CharField(_("pris en charge par"), max_length=128, blank=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    updated_at = models.DateTimeField(_("mise à jour le"), auto_now=True)

    class Meta:
        verbose_name = _("notification")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_notification", _("Peut renvoyer une notification"))]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "contact", "event", "channel", "sequence", "stage", "resend"],
                condition=Q(contact__isnull=False), name="notification_once_per_contact",
            ),
            models.UniqueConstraint(
                fields=["appointment", "recipient_agent", "event", "channel", "sequence", "stage", "resend"],
                condition=Q(recipient_agent__isnull=False), name="notification_once_per_agent",
            ),
            models.CheckConstraint(
                condition=Q(contact__isnull=False, recipient_agent__isnull=True)
                | Q(contact__isnull=True, recipient_agent__isnull=False),
                name="notification_one_recipient",
            ),
        ]
        # Every status change writes a new entry in each of these (a status is indexed, so no
        # update is HOT): only what a query uses is here. The set, and the query each serves,
        # is checked by tests/test_notification_indexes.py; see README, "Notifications".
        indexes = [
            # The recovery sweep looks for records stuck in one state for too long.
            models.Index(fields=["status", "updated_at"], name="notification_status_age_idx",
                         condition=Q(status__in=["pending", "sending"])),
            # Status reports find their record by the provider's message id. A named index, not
            # db_index=True: on PostgreSQL that adds a varchar_pattern_ops copy for LIKE 'x%',
            # which no query makes.
            models.Index(fields=["provider_message_id"], name="notification_provider_id_idx"),
            # The deep health check's oldest message still waiting to go out (notifications/health.py):
            # by creation, since a retry or the recovery sweep moves updated_at. Only pending rows.
            models.Index(fields=["created_at"], name="notification_pending_age_idx", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.get_event_display()} {self.get_channel_display()} #{self.pk}"

    @property
    def recipient(self):
        return self.contact or self.recipient_agent

    @property
    def recipient_key(self):
        return {"contact": self.contact} if self.contact_id else {"recipient_agent": self.recipient_agent}


class ReminderChannels(models.TextChoices):
    BOTH = schedule.BOTH, _("SMS et e-mail")
    SMS = schedule.SMS, _("SMS")
    EMAIL = schedule.EMAIL, _("e-mail")


class ReminderSchedule(models.Model):
    """A motif's own reminder schedule (without one, the default: schedule.default_touches()).
    A schedule with no touch means no reminder for this motif."""

    motif = models.OneToOneField(Motif, on_delete=models.CASCADE, related_name="reminder_schedule", verbose_name=_("motif"))

    class Meta:
        verbose_name = _("calendrier des rappels")
        verbose_name_plural = _("calendriers des rappels")

    def __str__(self):
        return str(self.motif)


class ReminderTouch(models.Model):
    schedule = models.ForeignKey(ReminderSchedule, on_delete=models.CASCADE, related_name="touches")
    hours_before = models.PositiveSmallIntegerField(
        _("heures avant le rendez-vous"), validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text=_("48 = deux jours avant ; 168 = une semaine avant."),
    )
    channels = models.CharField(_("canaux"), max_length=16, choices=ReminderChannels.choices, default=ReminderChannels.BOTH)

    class Meta:
        verbose_name = _("rappel")
        verbose_name_plural = _("rappels")
        ordering = ["-hours_before"]
        constraints = [models.UniqueConstraint(fields=["schedule", "hours_before"], name="reminder_touch_once")]

    def __str__(self):
        return f"{self.hours_before} h ({self.get_channels_display()})"


class ReminderState(models.TextChoices):
    PLANNED = "planned", _("prévu")
    SENT = "sent", _("parti")  # claimed by a sweep: its notifications exist (see them for delivery)
    CANCELLED = "cancelled", _("annulé (rendez-vous modifié ou annulé)")
    EXPIRED = "expired", _("abandonné (rendez-vous commencé ou plus confirmé)")


class PlannedReminder(models.Model):
    """One touch of the schedule for one version (`sequence`) of an appointment: planned on
    booking, replaced on a change, cancelled on a cancellation (receivers.py), claimed by the
    sweep when due (reminders.py)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="planned_reminders", verbose_name=_("rendez-vous"))
    sequence = models.PositiveIntegerField(_("version du rendez-vous"))
    stage = models.PositiveSmallIntegerField(_("heures avant"))
    due_at = models.DateTimeField(_("prévu le"))
    channels = models.CharField(_("canaux"), max_length=16, choices=ReminderChannels.choices)
    status = models.CharField(_("état"), max_length=16, choices=ReminderState.choices, default=ReminderState.PLANNED)
    done_at = models.DateTimeField(_("traité le"), null=True, blank=True)

    class Meta:
        verbose_name = _("rappel prévu")
        verbose_name_plural = _("rappels prévus")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "sequence", "stage"], name="planned_reminder_once"),
        ]
        indexes = [
            # The sweep reads only what is still planned, by due time: its cost follows what is
            # due, not the number of appointments.
            models.Index(fields=["due_at"], name="planned_reminder_due_idx", condition=Q(status="planned")),
        ]

    def __str__(self):
        return f"{self.stage} h — {self.get_status_display()}"


class Suppression(models.Model):
    """A phone number or email address that must receive nothing more on its channel.

    An opposition (STOP reply, Twilio opt-out, "ne plus recevoir" on the link page, an
    unsubscribe or complaint reported by the ESP, a withdrawal recorded by an agent) belongs
    to the number or address, not to one Contact row: each booking creates a new contact,
    and giving the same number again must not start the messages again. Lifted only by
    deleting the entry (superusers, in the admin).
    """

    channel = models.CharField(_("canal"), max_length=8, choices=Channel.choices)
    # E.164 for a phone number, lower case for an email address (suppression.normalise()).
    address = models.CharField(_("numéro ou adresse"), max_length=254)
    source = models.CharField(_("origine"), max_length=24, choices=ConsentSource.choices)
    created_at = models.DateTimeField(_("depuis le"), default=timezone.now)

    class Meta:
        verbose_name = _("opposition (liste d'opposition)")
        verbose_name_plural = _("liste d'opposition")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="suppression_unique_address")]

    def __str__(self):
        return f"{self.get_channel_display()} {self.address}"


class UnreachableNumber(models.Model):
    """A phone number the carrier reported undeliverable for reasons of the number (unknown,
    no longer assigned, not a mobile, invalid: notifications/unreachable.py), with the
    provider's code and when. Like an opposition it belongs to the number, whatever contact
    holds it: later SMS to it are not attempted (the email goes instead when there is one), and
    agents see « SMS non remis — vérifier le numéro » on every appointment of a contact holding
    it. Correcting the contact's number lifts the mark for that contact; an agent who checked
    that the number is right lifts it in the data-quality list."""

    # E.164, as Contact.phone stores it.
    phone = models.CharField(_("numéro"), max_length=32, unique=True)
    provider = models.CharField(_("fournisseur"), max_length=32)
    code = models.CharField(_("code du fournisseur"), max_length=32)
    marked_at = models.DateTimeField(_("signalé le"), default=timezone.now)
    # The message whose failure revealed it (for the agent who wants the whole story).
    notification = models.ForeignKey(Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                     verbose_name=_("notification en échec"))

    class Meta:
        verbose_name = _("numéro injoignable")
        verbose_name_plural = _("numéros injoignables")
        ordering = ["-marked_at"]

    def __str__(self):
        return f"{self.provider} {self.code} {self.marked_at:%d/%m/%Y}"


class UnreachableContact(Contact):
    """The data-quality list of the admin: contacts whose number is marked unreachable
    (a proxy, only so that the admin lists them among the notifications)."""

    class Meta:
        proxy = True
        verbose_name = _("usager au numéro injoignable")
        verbose_name_plural = _("usagers aux numéros injoignables (à vérifier)")
        default_permissions = ("view",)


class StatusEvent(models.Model):
    """Every status report about a notification, as received (append-only)."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(_("statut"), max_length=16, choices=Status.choices)
    provider_code = models.CharField(_("code du prestataire"), max_length=32, blank=True)
    raw_event = models.CharField(_("événement reçu"), max_length=64, blank=True)
    # What identifies the provider's report (its event id, or a digest of the report): an
    # exact replay of a webhook finds its key taken and changes nothing.
    provider_event_key = models.CharField(_("référence du rapport"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("reçu le"), default=timezone.now)

    class Meta:
        verbose_name = _("statut reçu")
        verbose_name_plural = _("statuts reçus")
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "provider_event_key"], condition=~Q(provider_event_key=""),
                name="status_event_once_per_report",
            ),
        ]

    def __str__(self):
        return f"{self.raw_event or self.status} {self.received_at:%d/%m/%Y %H:%M:%S}"


class SmsOutboxMessage(models.Model):
    """An SMS "sent" by the outbox backend (development): stored for a person to read."""

    sender = models.CharField(_("expéditeur"), max_length=64, blank=True)
    to = models.CharField(_("destinataire"), max_length=32)
    body = models.TextField(_("texte"))
    segments = models.PositiveSmallIntegerField(_("segments"))
    created_at = models.DateTimeField(_("envoyé le"), default=timezone.now)

    class Meta:
        verbose_name = _("SMS (boîte d'envoi locale)")
        verbose_name_plural = _("SMS (boîte d'envoi locale)")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"SMS {self.to} {self.created_at:%d/%m/%Y %H:%M}"


class EmailOutboxMessage(models.Model):
    """An email "sent" by the outbox email backend (development)."""

    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    from_email = models.CharField(_("expéditeur"), max_length=254)
    to = models.TextField(_("destinataires"))
    subject = models.CharField(_("objet"), max_length=255, blank=True)
    text = models.TextField(_("texte"), blank=True)
    html = models.TextField(_("HTML"), blank=True)
    attachments = models.TextField(_("pièces jointes"), blank=True)
    created_at = models.DateTimeField(_("envoyé le"), default=timezone.now)

    class Meta:
        verbose_name = _("e-mail (boîte d'envoi locale)")
        verbose_name_plural = _("e-mails (boîte d'envoi locale)")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.subject} → {self.to}"


class RetentionRun(models.Model):
    """One pass of the personal-data retention task (notifications/retention.py): when it
    ran, the cut-offs it applied and how many rows it anonymised or deleted. Counts only,
    never who."""

    ran_at = models.DateTimeField(_("exécutée le"), default=timezone.now)
    notification_cutoff = models.DateTimeField(_("textes des notifications effacés avant le"))
    contact_cutoff = models.DateTimeField(_("usagers anonymisés sans rendez-vous depuis le"))
    notifications_anonymised = models.PositiveIntegerField(_("notifications effacées"), default=0)
    status_events_deleted = models.PositiveIntegerField(_("statuts reçus supprimés"), default=0)
    outbox_messages_deleted = models.PositiveIntegerField(_("messages de boîte d'envoi supprimés"), default=0)
    contacts_anonymised = models.PositiveIntegerField(_("usagers anonymisés"), default=0)
    appointments_cleared = models.PositiveIntegerField(_("rendez-vous expurgés"), default=0)

    class Meta:
        verbose_name = _("passe de conservation des données")
        verbose_name_plural = _("passes de conservation des données")
        ordering = ["-ran_at"]

    def __str__(self):
        return f"{self.ran_at:%d/%m/%Y %H:%M}"


class SmsProviderEvent(models.Model):
    """An operator's alert about an SMS provider (notifications/sms/breaker.py): it failed
    over (its breaker opened), ran out of credits, came back; or every provider is down."""

    class Kind(models.TextChoices):
        FAILOVER = "failover", _("en échec : bascule vers le suivant")
        CREDITS = "credits", _("crédits épuisés : bascule vers le suivant")
        ALL_DOWN = "all_down", _("tous les fournisseurs en échec")
        RECOVERED = "recovered", _("de nouveau disponible")

    provider = models.CharField(_("fournisseur"), max_length=32)
    kind = models.CharField(_("événement"), max_length=16, choices=Kind.choices)
    detail = models.TextField(_("détail"), blank=True)
    at = models.DateTimeField(_("le"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("incident de fournisseur SMS")
        verbose_name_plural = _("incidents des fournisseurs SMS")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.provider} {self.get_kind_display()} {self.at:%d/%m/%Y %H:%M}"


class NotificationDashboard(Notification):
    """The agents' dashboard of notification counts (notifications/dashboard.py): a proxy,
    only so that the admin lists it beside the notifications."""

    class Meta:
        proxy = True
        verbose_name = _("tableau de bord des envois")
        verbose_name_plural = _("tableau de bord des envois")
        default_permissions = ()


class DeliveryLease(models.Model):
    """The records a batch task is delivering, named by its worker process (liveness.py), for
    as long as it runs: if the process dies, the recovery enqueues those still pending at once."""

    worker = models.CharField(_("processus"), max_length=128)
    channel = models.CharField(_("canal"), max_length=8, choices=Channel.choices)
    ids = models.JSONField(_("notifications"))
    created_at = models.DateTimeField(_("depuis le"), default=timezone.now)

    class Meta:
        verbose_name = _("lot en cours d'envoi")
        verbose_name_plural = _("lots en cours d'envoi")

    def __str__(self):
        return f"{self.channel} × {len(self.ids)} ({self.worker})"


class Heartbeat(models.Model):
    """When a periodic job last completed, for the deep health check (notifications/health.py):
    one row per job, overwritten each time (the reminder sweep: every minute), so that it stays
    one row however long the system runs."""

    name = models.CharField(_("tâche"), max_length=64, primary_key=True)
    at = models.DateTimeField(_("dernière exécution"))

    class Meta:
        verbose_name = _("dernière exécution d'une tâche périodique")
        verbose_name_plural = _("dernières exécutions des tâches périodiques")

    def __str__(self):
        return f"{self.name} {self.at:%d/%m/%Y %H:%M}"


class OrganisationSmsRoute(models.Model):
    """An organisation's own SMS providers, in order (notifications/sms/routes.py): they come
    before its territory's (SMS_BACKENDS_BY_TERRITORY) and the server's (SMS_BACKENDS). Set by
    an operator: which provider a service pays for is not an agent's choice."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="sms_route",
                                        verbose_name=_("organisation"))
    providers = models.CharField(
        _("fournisseurs SMS, dans l'ordre"), max_length=200, validators=[validate_provider_names],
        help_text=_("Séparés par des virgules, le premier d'abord : le suivant prend le relais quand un fournisseur "
                    "est en échec. Par exemple « brevo,twilio ». Passe avant le réglage du territoire et celui du serveur."),
    )

    class Meta:
        verbose_name = _("fournisseurs SMS de l'organisation")
        verbose_name_plural = _("fournisseurs SMS des organisations")
        ordering = ["organisation__name"]

    def __str__(self):
        return f"{self.organisation} : {self.providers}"

    def clean(self):
        self.providers = ",".join(split_names(self.providers))
