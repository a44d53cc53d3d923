"""The agents' side: booking, rescheduling and cancelling in the Django admin.

Every agent sees and edits only the data of its own organisations: querysets, choices and
object permissions are all scoped here, not only hidden in templates.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelectMultiple, RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import reach, services
from .consent import AGENT
from .forms import AppointmentAdminForm, ContactAdminForm
from .models import (
    Agent, Appointment, AppointmentStatus, BookedBy, CANCELLED_STATUSES, ConsentRecord, Contact, Motif,
    OpeningHours, Organisation, Place, Service,
)


def agent_of(request):
    return getattr(request.user, "agent", None)


def organisation_ids(request):
    """The organisations this user may see; None means all (superusers)."""
    if request.user.is_superuser:
        return None
    agent = agent_of(request)
    if agent is None:
        return []
    if not hasattr(request, "_organisation_ids"):
        request._organisation_ids = list(agent.organisations.values_list("pk", flat=True))
    return request._organisation_ids


def scope(queryset, request, field="organisation"):
    ids = organisation_ids(request)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


class OwnOrganisationsFilter(admin.RelatedFieldListFilter):
    """A list filter on a place, service, agent or organisation that offers only the user's own
    organisations' ones: Django's own lists every row of the table, other organisations'
    names included."""

    def field_choices(self, field, request, model_admin):
        model = field.related_model
        organisation_field = {Agent: "organisations", Organisation: "pk"}.get(model, "organisation")
        queryset = scope(model._default_manager.all(), request, organisation_field).distinct()
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in queryset]


class OrganisationScopedAdmin(admin.ModelAdmin):
    organisation_field = "organisation"

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request, self.organisation_field)

    def _scoped_choices(self, model, request):
        field = "organisations" if model is Agent else ("pk" if model is Organisation else "organisation")
        return scope(model._default_manager.all(), request, field)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model in (Organisation, Service, Place, Motif, Contact, Agent):
            kwargs["queryset"] = self._scoped_choices(db_field.related_model, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.related_model in (Organisation, Service, Place, Motif, Contact, Agent):
            kwargs["queryset"] = self._scoped_choices(db_field.related_model, request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _check_organisation(self, request, obj):
        ids = organisation_ids(request)
        org_id = getattr(obj, f"{self.organisation_field}_id", None) if self.organisation_field != "pk" else obj.pk
        if ids is not None and org_id is not None and org_id not in ids:
            raise PermissionDenied

    def save_model(self, request, obj, form, change):
        if self.organisation_field == "organisation" and not obj.organisation_id:
            ids = organisation_ids(request)
            if ids:
                obj.organisation_id = ids[0]
        self._check_organisation(request, obj)
        super().save_model(request, obj, form, change)


@admin.register(Organisation)
class OrganisationAdmin(OrganisationScopedAdmin):
    organisation_field = "pk"
    list_display = ["name", "brand", "time_zone", "international_sms"]
    search_fields = ["name"]


@admin.register(Service)
class ServiceAdmin(OrganisationScopedAdmin):
    list_display = ["name", "short_name", "organisation"]
    list_filter = [("organisation", OwnOrganisationsFilter)]
    search_fields = ["name"]


@admin.register(Place)
class PlaceAdmin(OrganisationScopedAdmin):
    list_display = ["name", "address", "organisation", "time_zone"]
    list_filter = [("organisation", OwnOrganisationsFilter)]
    search_fields = ["name", "address"]


@admin.register(Motif)
class MotifAdmin(OrganisationScopedAdmin):
    list_display = ["name", "service", "location_type", "default_duration_minutes", "bookable_publicly", "active"]
    list_filter = [("service", OwnOrganisationsFilter), "location_type", "bookable_publicly", "active"]
    search_fields = ["name"]


@admin.register(Agent)
class AgentAdmin(OrganisationScopedAdmin):
    organisation_field = "organisations"
    list_display = ["__str__", "notification_level"]
    filter_horizontal = ["organisations", "services"]
    search_fields = ["user__first_name", "user__last_name", "user__email"]

    def get_queryset(self, request):
        return super().get_queryset(request).distinct()

    def _check_organisation(self, request, obj):
        pass  # checked on the many-to-many choices, which are scoped


@admin.register(OpeningHours)
class OpeningHoursAdmin(OrganisationScopedAdmin):
    list_display = ["agent", "place", "start_time", "end_time", "weekdays", "valid_from", "valid_until"]
    list_filter = [("place", OwnOrganisationsFilter), ("agent", OwnOrganisationsFilter)]
    filter_horizontal = ["motifs"]


class ConsentRecordInline(admin.TabularInline):
    model = ConsentRecord
    extra = 0
    can_delete = False
    fields = ["channel", "granted", "recorded_at", "source", "agent", "text_version"]
    readonly_fields = fields
    verbose_name_plural = _("historique des consentements")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contact)
class ContactAdmin(OrganisationScopedAdmin):
    form = ContactAdminForm
    list_display = ["last_name", "first_name", "phone", "email", "sms_consent", "email_consent"]
    list_filter = ["sms_consent", "email_consent"]
    search_fields = ["last_name", "first_name", "phone", "email"]
    inlines = [ConsentRecordInline]

    def save_model(self, request, obj, form, change):
        agent = agent_of(request)
        form.save_withdrawals(obj, agent)
        super().save_model(request, obj, form, change)
        form.save_grants(obj, agent)


class ParticipationInline(admin.TabularInline):
    model = Appointment.contacts.through
    extra = 0
    can_delete = False
    readonly_fields = ["contact"]
    verbose_name_plural = _("usagers")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Appointment)
class AppointmentAdmin(OrganisationScopedAdmin):
    form = AppointmentAdminForm
    list_display = ["local_start", "motif", "service_name", "place", "status", "participants"]
    list_filter = [("starts_at", admin.DateFieldListFilter), ("motif__service", OwnOrganisationsFilter),
                   ("place", OwnOrganisationsFilter), "status", "location_type"]
    search_fields = ["contacts__last_name", "contacts__first_name", "contacts__phone", "contacts__email"]
    list_select_related = ["motif__service", "place__organisation", "organisation"]
    date_hierarchy = "starts_at"
    readonly_fields = ["who_is_told", "booked_by", "booked_by_agent", "booked_at", "sequence"]
    fieldsets = [
        (None, {"fields": ["motif", "location_type", "place", "address", "visio_url", "date", "time", "duration_minutes", "assigned_agents", "participating_contacts"]}),
        (_("Ce que les usagers recevront"), {"fields": ["who_is_told"]}),
        (_("Statut"), {"fields": ["status", "cancellation_reason"]}),
        (_("Historique"), {"fields": ["booked_by", "booked_by_agent", "booked_at", "sequence"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        agents = scope(Agent.objects.select_related("user"), request, "organisations").distinct()
        contacts = scope(Contact.objects.all(), request)

        # Contacts are many (one organisation can hold hundreds of thousands): search them
        # with the admin's autocomplete, and offer "+" to create one, consent included.
        contacts_field = Appointment._meta.get_field("contacts")
        contacts_widget = RelatedFieldWidgetWrapper(
            AutocompleteSelectMultiple(contacts_field, self.admin_site), contacts_field.remote_field, self.admin_site,
            can_add_related=self.admin_site._registry[Contact].has_add_permission(request),
        )

        class ScopedForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, agents_queryset=agents, contacts_queryset=contacts, **kw)
                field = self.fields["participating_contacts"]
                field.widget = contacts_widget
                field.queryset = contacts  # binds the new widget's choices

        return ScopedForm

    @admin.display(description=_("messages"))
    def who_is_told(self, obj):
        """Per contact, exactly what they will receive, or a warning that they get nothing."""
        if obj is None or obj.pk is None:
            return _("Chaque usager reçoit la confirmation, les modifications, l'annulation et le rappel "
                     "(%(hours)s heures avant ; aucun rappel pour un rendez-vous qui commence plus tôt) par SMS "
                     "s'il a donné un mobile français, et par e-mail s'il a donné une adresse. Le détail par "
                     "usager s'affiche une fois le rendez-vous enregistré.") % {"hours": settings.REMINDER_DELAY_HOURS}
        lines = [reach.sentences(contact, obj.starts_at, AGENT)[0] for contact in obj.contacts.all()]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    def tell_agent_who_is_told(self, request, appointment):
        """After booking: say what each contact will receive, as a warning when it is nothing."""
        for contact in appointment.contacts.all():
            sentence, warning = reach.sentences(contact, appointment.starts_at, AGENT, now=appointment.booked_at)
            self.message_user(request, sentence, messages.WARNING if warning else messages.INFO)

    @admin.display(description=_("début (heure locale)"), ordering="starts_at")
    def local_start(self, obj):
        return obj.local_starts_at.strftime("%d/%m/%Y %H:%M")

    @admin.display(description=_("service"))
    def service_name(self, obj):
        return obj.motif.service.name

    @admin.display(description=_("usagers"))
    def participants(self, obj):
        return ", ".join(str(c) for c in obj.contacts.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("contacts")

    def save_model(self, request, obj, form, change):
        """Book, change or cancel through the services, so each event is sent once."""
        self._check_organisation(request, obj)
        data, agent = form.cleaned_data, agent_of(request)
        try:
            if not change:
                services.confirm_new(
                    obj, agents=list(data["assigned_agents"]), contacts=list(data["participating_contacts"]),
                    booked_by=BookedBy.AGENT, booked_by_agent=agent,
                )
                self.tell_agent_who_is_told(request, obj)
                return
            if data["status"] in CANCELLED_STATUSES and form.initial.get("status") == AppointmentStatus.CONFIRMED:
                # Cancelling keeps the appointment as it was booked; other edits are ignored.
                obj.refresh_from_db()
                actor = BookedBy.CITIZEN if data["status"] == AppointmentStatus.CANCELLED_BY_CITIZEN else BookedBy.AGENT
                services.cancel(obj, actor=actor, agent=agent, reason=data["cancellation_reason"])
                return
            previous = services.snapshot(Appointment.objects.get(pk=obj.pk))
            services.save_change(obj, previous, actor=BookedBy.AGENT, agent=agent, agent_ids=[a.pk for a in data["assigned_agents"]])
        except ValidationError as error:
            # Raised after form validation (the slot was taken meanwhile): show it and keep
            # the transaction from committing half an appointment.
            raise AdminValidationError(error) from error

    def save_related(self, request, form, formsets, change):
        pass  # agents and contacts are saved by the services

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AdminValidationError as error:
            for message in error.error.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AdminValidationError(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error
