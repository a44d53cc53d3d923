"""Agents' view of notifications: on each appointment's page (an inline added to the
existing AppointmentAdmin from here, so that appointments/ knows nothing of notifications),
a list with filters, and a resend action. The local outboxes, for development, are
superuser-only: they hold every organisation's messages. An organisation's own SMS providers
are an inline on its page, for those given the permission (operators, not agents)."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy as _, ngettext

from appointments.admin import AppointmentAdmin, ContactAdmin, OrganisationAdmin, scope
from appointments.models import AppointmentStatus, Channel, Contact
from appointments.zones import zone_label

from . import unreachable
from .models import (
    IN_FLIGHT, RESENDABLE, EmailOutboxMessage, Notification, OrganisationSmsRoute, PlannedReminder, ReminderSchedule,
    ReminderTouch, SmsOutboxMessage, StatusEvent, Suppression, UnreachableContact, UnreachableNumber,
)
from .dispatch import enqueue
from .sms.routes import Route, configured_here, known_providers, resolve


# --- Times, in one zone, said ------------------------------------------------------------------
# The admin, Flower (CELERY_TIMEZONE) and the logs give a person every time in TIME_ZONE, and
# say so in the column's heading: "créée le (heure de Paris)". An appointment's own times
# (when its reminder goes out) are in its place's zone, named in the cell.

_ops_zone_label = lazy(lambda: zone_label(settings.TIME_ZONE), str)


def ops_time(field, label):
    """An admin column for the date-time `field`, in TIME_ZONE, the zone in its heading."""

    def show(self, obj):
        value = getattr(obj, field)
        return formats.localize(timezone.localtime(value, ZoneInfo(settings.TIME_ZONE))) if value else "—"

    return admin.display(description=format_lazy("{} ({})", label, _ops_zone_label()), ordering=field)(show)


class OpsTimes:
    """The date-time columns every notification list and page shows."""

    created = ops_time("created_at", _("créée le"))
    claimed = ops_time("claimed_at", _("prise en charge le"))
    sent = ops_time("sent_at", _("envoyée le"))
    updated = ops_time("updated_at", _("mise à jour le"))


READONLY = ["appointment", "contact", "recipient_agent", "event", "channel", "sequence", "stage", "resend", "status",
            "provider", "provider_message_id", "error_code", "error_message", "segments", "attempts", "to",
            "subject", "body", "created", "claimed", "sent", "updated"]


def current_address(notification):
    """Where this message would go today: the recipient's current number or address, not
    the `to` of the first attempt (an agent resends most often after correcting it)."""
    if notification.contact_id:
        contact = Contact.objects.get(pk=notification.contact_id)
        return str(contact.phone or "") if notification.channel == Channel.SMS else contact.email
    return notification.recipient_agent.user.email


def resend(notification):
    """A new attempt for a notification that is not in flight: a new row (resend + 1) so
    the history stays, refused while one for the same message is pending or sending, or
    when the recipient no longer has a number or address for this channel."""
    to = current_address(notification)
    if not to:
        return None
    key = dict(appointment_id=notification.appointment_id, event=notification.event, channel=notification.channel,
               sequence=notification.sequence, contact_id=notification.contact_id,
               recipient_agent_id=notification.recipient_agent_id)
    with transaction.atomic():
        siblings = Notification.objects.select_for_update().filter(**key)
        if any(s.status in IN_FLIGHT for s in siblings):
            return None
        number = (siblings.aggregate(n=Max("resend"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                copy = Notification.objects.create(to=to, previous=notification.previous, resend=number, **key)
        except IntegrityError:
            return None  # another agent resent it at the same moment
        transaction.on_commit(lambda: enqueue([(copy.pk, copy.channel)]))
    return copy


class StatusEventInline(admin.TabularInline):
    """The status log of one notification: what the provider reported, when."""

    model = StatusEvent
    extra = 0
    can_delete = False
    fields = ["received", "status", "raw_event", "provider_code"]
    readonly_fields = fields
    received = ops_time("received_at", _("reçu le"))

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system, never by hand: listed and read only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(OpsTimes, ReadOnlyAdmin):
    list_display = ["created", "appointment", "recipient_label", "event", "channel", "status", "error_code", "segments", "resend"]
    list_filter = ["status", "channel", "event", "provider", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["provider_message_id", "=appointment__token"]
    list_select_related = ["appointment__motif", "appointment__place__organisation", "appointment__organisation",
                           "contact", "recipient_agent__user"]
    readonly_fields = READONLY
    fields = READONLY
    inlines = [StatusEventInline]
    actions = ["resend_selected"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request, "appointment__organisation")

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_notification")

    @admin.display(description=_("destinataire"))
    def recipient_label(self, obj):
        return str(obj.recipient)

    @admin.action(description=_("Renvoyer les notifications sélectionnées"), permissions=["resend"])
    def resend_selected(self, request, queryset):
        done, refused = 0, 0
        for notification in queryset:
            if notification.status in RESENDABLE and resend(notification):
                done += 1
            else:
                refused += 1
        if done:
            self.message_user(request, ngettext("%d notification renvoyée.", "%d notifications renvoyées.", done) % done)
        if refused:
            self.message_user(request, ngettext(
                "%d notification non renvoyée : un envoi est déjà en cours pour ce message, ou le destinataire "
                "n'a plus de coordonnées pour ce canal.",
                "%d notifications non renvoyées : un envoi est déjà en cours pour ces messages, ou le destinataire "
                "n'a plus de coordonnées pour ce canal.", refused) % refused,
                messages.WARNING)


class NotificationInline(OpsTimes, admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = ["created", "event", "channel", "recipient_label", "status", "error_code", "sent", "resend"]
    readonly_fields = fields
    verbose_name_plural = _("notifications envoyées")
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Not on the "add" page (nothing sent yet), and not in a POST: a read-only list
        # should never make the appointment form fail for a missing inline formset.
        match = getattr(request, "resolver_match", None)
        on_add_page = match is not None and (match.url_name or "").endswith("_add")
        return request.method == "GET" and not on_add_page and super().has_view_permission(request, obj)

    @admin.display(description=_("destinataire"))
    def recipient_label(self, obj):
        return str(obj.recipient)


class ContactNotificationInline(NotificationInline):
    """The citizen's page: every message sent to them, for every appointment, newest first."""

    fields = ["created", "appointment", "event", "channel", "to", "status", "error_code", "sent", "resend"]
    readonly_fields = fields
    verbose_name_plural = _("historique des notifications")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("appointment__motif", "appointment__place__organisation",
                                                            "appointment__organisation")


class PlannedReminderInline(NotificationInline):
    """On each appointment: its reminders, planned (when, on which channels) and gone out
    (what each became is in the notifications below)."""

    model = PlannedReminder
    fields = ["stage_label", "local_due_at", "channels", "state", "sequence", "done"]
    readonly_fields = fields
    verbose_name_plural = _("rappels prévus et partis")
    show_change_link = False
    done = ops_time("done_at", _("traité le"))

    @admin.display(description=_("rappel"))
    def stage_label(self, obj):
        return _("%(hours)s h avant") % {"hours": obj.stage}

    @admin.display(description=_("état"))
    def state(self, obj):
        # Not "status": the notifications' inline below has that column.
        return obj.get_status_display()

    @admin.display(description=_("prévu le (heure du rendez-vous)"))
    def local_due_at(self, obj):
        zone = obj.appointment.zone
        return f"{timezone.localtime(obj.due_at, zone):%d/%m/%Y %H:%M} ({zone_label(zone)})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("appointment__place", "appointment__organisation")


class ReminderTouchInline(admin.TabularInline):
    model = ReminderTouch
    extra = 1


@admin.register(ReminderSchedule)
class ReminderScheduleAdmin(admin.ModelAdmin):
    """A motif's own reminder schedule, set by an administrator (agents have no permission on
    it). A motif without one gets the default: one reminder REMINDER_DELAY_HOURS before, by SMS
    and e-mail. Applies to appointments booked or moved afterwards."""

    list_display = ["motif", "touches_label"]
    list_select_related = ["motif"]
    autocomplete_fields = ["motif"]
    inlines = [ReminderTouchInline]

    @admin.display(description=_("rappels"))
    def touches_label(self, obj):
        return ", ".join(str(touch) for touch in obj.touches.all()) or _("aucun rappel")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("touches")


def route_in_words(organisation):
    """The providers that carry the organisation's SMS now, and why: what an operator checks
    after setting a route (a provider not configured on this server is passed over)."""
    route = resolve(organisation)
    source = {
        Route.ORGANISATION: _("réglage de l'organisation"),
        Route.TERRITORY: _("territoire %(zone)s (SMS_BACKENDS_BY_TERRITORY)") % {"zone": route.territory},
        Route.DEFAULT: _("réglage du serveur (SMS_BACKENDS)"),
    }[route.source]
    words = f"{', '.join(route.names)} — {source}"
    if route.passed_over:
        words += " — " + _("non configurés sur ce serveur, ignorés : %(names)s") % {"names": ", ".join(route.passed_over)}
    return words


class SmsRouteFields:
    """What the inline and the list's form share: the route in effect, and the providers this
    server has configured next to the field."""

    fields = ["providers", "in_effect"]
    readonly_fields = ["in_effect"]

    @admin.display(description=_("acheminement en vigueur"))
    def in_effect(self, obj):
        return route_in_words(obj.organisation) if obj and obj.organisation_id else "—"

    @staticmethod
    def name_configured_providers(form):
        from .sms import backend_class

        usable = [name for name in known_providers() if configured_here(backend_class(name))]
        field = form.base_fields["providers"]
        field.help_text = "%s %s" % (OrganisationSmsRoute._meta.get_field("providers").help_text,
                                     _("Fournisseurs configurés sur ce serveur : %(names)s.") % {"names": ", ".join(usable) or "—"})
        return form


class OrganisationSmsRouteInline(SmsRouteFields, admin.StackedInline):
    model = OrganisationSmsRoute
    extra = 1  # an empty form that shows the route in effect without one
    max_num = 1
    verbose_name = _("fournisseurs SMS propres à l'organisation")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        self.name_configured_providers(formset.form)
        return formset


@admin.register(OrganisationSmsRoute)
class OrganisationSmsRouteAdmin(SmsRouteFields, admin.ModelAdmin):
    """Every organisation with its own SMS providers, in one list: what an operator reviews."""

    list_display = ["organisation", "providers", "in_effect"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]
    search_fields = ["organisation__name"]
    fields = ["organisation", *SmsRouteFields.fields]

    def get_form(self, request, obj=None, **kwargs):
        return self.name_configured_providers(super().get_form(request, obj, **kwargs))


if OrganisationSmsRouteInline not in OrganisationAdmin.inlines:
    OrganisationAdmin.inlines = [*OrganisationAdmin.inlines, OrganisationSmsRouteInline]
if PlannedReminderInline not in AppointmentAdmin.inlines:
    AppointmentAdmin.inlines = [*AppointmentAdmin.inlines, PlannedReminderInline]
if NotificationInline not in AppointmentAdmin.inlines:
    AppointmentAdmin.inlines = [*AppointmentAdmin.inlines, NotificationInline]
if ContactNotificationInline not in ContactAdmin.inlines:
    ContactAdmin.inlines = [*ContactAdmin.inlines, ContactNotificationInline]


class OutboxAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SmsOutboxMessage)
class SmsOutboxAdmin(OutboxAdmin):
    list_display = ["created", "to", "body", "segments"]
    search_fields = ["to"]
    readonly_fields = fields = ["created", "sender", "to", "body", "segments"]
    created = ops_time("created_at", _("envoyé le"))


@admin.register(EmailOutboxMessage)
class EmailOutboxAdmin(OutboxAdmin):
    list_display = ["created", "to", "subject"]
    search_fields = ["to", "subject"]
    readonly_fields = fields = ["created", "message_id", "from_email", "to", "subject", "text", "html", "attachments"]
    created = ops_time("created_at", _("envoyé le"))


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """The suppression list spans every organisation (an opt-out belongs to the number), so
    only superusers read it; deleting an entry is how an opposition is lifted, when the
    person asks for messages again."""

    list_display = ["created", "channel", "address", "source"]
    list_filter = ["channel", "source"]
    search_fields = ["=address"]
    readonly_fields = fields = ["created", "channel", "address", "source"]
    created = ops_time("created_at", _("depuis le"))

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Numbers the carrier reported unreachable (notifications/unreachable.py) ----------------


@admin.register(UnreachableContact)
class UnreachableContactAdmin(ReadOnlyAdmin):
    """The data-quality list: the contacts of the agent's organisations whose number the
    carrier reported unreachable, those with appointments ahead first. An agent corrects the
    number on the contact's page (which lifts the mark and offers to resend), or, having
    checked it with the citizen, lifts the mark here."""

    list_display = ["name", "phone", "reason", "marked_on", "upcoming", "correct"]
    list_display_links = None
    search_fields = ["last_name", "first_name", "=phone"]
    actions = ["lift_marks"]

    def get_queryset(self, request):
        marks = unreachable.in_force(UnreachableNumber.objects.filter(phone=OuterRef("phone")))
        contacts = scope(super().get_queryset(request), request).filter(Exists(marks)).annotate(
            mark_code=Subquery(marks.values("code")[:1]), mark_provider=Subquery(marks.values("provider")[:1]),
            mark_at=Subquery(marks.values("marked_at")[:1]),
            upcoming_count=Count("appointments", filter=Q(appointments__starts_at__gt=timezone.now(),
                                                          appointments__status=AppointmentStatus.CONFIRMED)),
        )
        return contacts.order_by("-upcoming_count", "-mark_at", "pk")

    def has_lift_permission(self, request):
        # Whoever may correct the number may say it is right.
        return request.user.has_perm("appointments.change_contact")

    @admin.display(description=_("usager"), ordering="last_name")
    def name(self, obj):
        return str(obj)

    @admin.display(description=_("motif du signalement"))
    def reason(self, obj):
        return f"{unreachable.meaning(obj.mark_provider, obj.mark_code)} ({obj.mark_provider} {obj.mark_code})"

    @admin.display(description=_("signalé le"), ordering="mark_at")
    def marked_on(self, obj):
        return timezone.localtime(obj.mark_at).strftime("%d/%m/%Y")

    @admin.display(description=_("rendez-vous à venir"), ordering="upcoming_count")
    def upcoming(self, obj):
        return obj.upcoming_count

    @admin.display(description=_("fiche de l'usager"))
    def correct(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:appointments_contact_change", args=[obj.pk]),
                           gettext("corriger le numéro"))

    @admin.action(description=_("Numéro vérifié avec l'usager : lever la marque"), permissions=["lift"])
    def lift_marks(self, request, queryset):
        numbers = {str(phone) for phone in queryset.values_list("phone", flat=True)}
        lifted = UnreachableNumber.objects.filter(phone__in=numbers).delete()[0]
        self.message_user(request, ngettext("%d numéro n'est plus signalé injoignable.",
                                            "%d numéros ne sont plus signalés injoignables.", lifted) % lifted)


class ContactWithUnreachableAdmin(ContactAdmin):
    """The citizen's page (appointments.admin.ContactAdmin) with the unreachable number in
    view: a warning while the mark stands, and once the agent corrects the number, the offer
    to resend what did not reach the old one — the notifications' own resend action."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            contact = self.get_object(request, object_id)
            mark = unreachable.mark_of(contact) if contact is not None else None
            if mark is not None:
                self.message_user(request, f"⚠ {unreachable.LABEL} : {unreachable.describe(mark, contact)}",
                                  messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "phone" in form.changed_data:
            offered = unreachable.number_corrected(obj, form.initial.get("phone"))
            if offered is not None:
                self.offer_resend(request, obj, offered)

    def offer_resend(self, request, contact, offered):
        text = gettext("Numéro de %(name)s corrigé : la marque « %(label)s » est levée.") % {
            "name": contact, "label": unreachable.LABEL}
        if not offered or not request.user.has_perm("notifications.resend_notification"):
            self.message_user(request, text, messages.SUCCESS)
            return
        # A button that posts the notifications' resend action for exactly these records.
        ids = format_html_join("", '<input type="hidden" name="_selected_action" value="{}">',
                               ((notification.pk,) for notification in offered))
        question = ngettext("%d SMS de ses rendez-vous à venir n'a pas été remis à l'ancien numéro.",
                            "%d SMS de ses rendez-vous à venir n'ont pas été remis à l'ancien numéro.",
                            len(offered)) % len(offered)
        self.message_user(request, format_html(
            '{} {} <form method="post" action="{}" class="resend-offer"><input type="hidden" '
            'name="csrfmiddlewaretoken" value="{}"><input type="hidden" name="action" value="resend_selected">{}'
            '<button type="submit" class="button">{}</button></form>',
            text, question, reverse("admin:notifications_notification_changelist"), get_token(request), ids,
            ngettext("Le renvoyer au nouveau numéro", "Les renvoyer au nouveau numéro", len(offered)),
        ), messages.WARNING)


admin.site.unregister(Contact)
admin.site.register(Contact, ContactWithUnreachableAdmin)


from .dashboard import NotificationDashboardAdmin  # noqa: E402,F401  (registers the agents' dashboard)
