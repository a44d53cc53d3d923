"""The agents' side: booking, rescheduling and cancelling in the Django admin.

Every agent sees and edits only the data of its own organisations: querysets, choices and
object permissions are all scoped here, not only hidden in templates.
"""

from datetime import date, time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import agenda_admin, contact_pick, dates, notices, reach, services, slots
from .consent import AGENT
from .forms import AppointmentAdminForm, ContactAdminForm, OpeningHoursAdminForm
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
    list_display = ["name", "short_name", "organisation", "short_name_room"]
    list_filter = [("organisation", OwnOrganisationsFilter)]
    search_fields = ["name"]
    readonly_fields = ["short_name_room"]

    @admin.display(description=_("place dans les SMS"))
    def short_name_room(self, obj):
        """The septets the short name takes and those its SMS leave, so that an agent sees
        the budget before the save refuses a name too long."""
        rooms = obj.short_name_room() if obj and obj.pk else []
        if not rooms:
            return _("indiquée une fois le service enregistré")
        taken = max(t or 0 for t, _room in rooms)
        room = min(r for _taken, r in rooms)
        return _("%(taken)d caractères utilisés sur %(room)d : reste %(left)d") % {
            "taken": taken, "room": room, "left": room - taken}


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
    """Agents see their colleagues read-only and may change one thing on their own record:
    which appointment emails they receive (the email agents get tells them to set it here).
    Who may change everything else is whoever holds the model's change permission."""

    organisation_field = "organisations"
    list_display = ["__str__", "notification_level"]
    filter_horizontal = ["organisations", "services"]
    search_fields = ["user__first_name", "user__last_name", "user__email"]
    own_fields = ["name", "email", "organisations_list", "services_list", "notification_level"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").distinct()

    def _check_organisation(self, request, obj):
        pass  # checked on the many-to-many choices, which are scoped

    def edits_only_own_level(self, request):
        """True for an agent without the model's change permission: their own level only."""
        return not super().has_change_permission(request)

    def is_own(self, request, obj):
        agent = agent_of(request)
        return obj is not None and agent is not None and obj.pk == agent.pk

    def has_change_permission(self, request, obj=None):
        if super().has_change_permission(request, obj):
            return True
        # Object-level: the change form of their own record, nothing else (the list stays
        # read-only, and POSTing to a colleague's record is refused by Django with a 403).
        return self.is_own(request, obj) and self.has_view_permission(request, obj)

    def get_fields(self, request, obj=None):
        if self.edits_only_own_level(request):
            return self.own_fields
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if self.edits_only_own_level(request):
            readonly = ["name", "email", "organisations_list", "services_list"]
            # A colleague's record: everything read-only, their level included.
            return readonly if self.is_own(request, obj) else [*readonly, "notification_level"]
        return super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.edits_only_own_level(request):
            # Only this field is ever bound from the POST, whatever else is sent.
            kwargs["fields"] = ["notification_level"] if self.is_own(request, obj) else []
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if self.edits_only_own_level(request):
            if not self.is_own(request, obj):
                raise PermissionDenied
            obj.save(update_fields=["notification_level"])
            return
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if not self.edits_only_own_level(request):
            super().save_related(request, form, formsets, change)

    def response_change(self, request, obj):
        if self.edits_only_own_level(request) and "_continue" not in request.POST:
            # Without the change permission the list is read-only: stay on the own page.
            self.message_user(request, _("Vos préférences sont enregistrées."), messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.display(description=_("nom"))
    def name(self, obj):
        return str(obj)

    @admin.display(description=_("adresse e-mail"))
    def email(self, obj):
        return obj.user.email

    @admin.display(description=_("organisations"))
    def organisations_list(self, obj):
        return ", ".join(str(o) for o in obj.organisations.all()) or "—"

    @admin.display(description=_("services"))
    def services_list(self, obj):
        return ", ".join(str(s) for s in obj.services.all()) or "—"


@admin.register(OpeningHours)
class OpeningHoursAdmin(OrganisationScopedAdmin):
    form = OpeningHoursAdminForm
    list_display = ["agent", "place", "start_time", "end_time", "days", "valid_from", "valid_until"]
    list_filter = [("place", OwnOrganisationsFilter), ("agent", OwnOrganisationsFilter)]
    list_select_related = ["agent__user", "place"]
    filter_horizontal = ["motifs"]

    @admin.display(description=_("jours"))
    def days(self, obj):
        return obj.weekday_names()


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
    """The citizen's page: their details and consent, what they receive (a warning when it is
    nothing), their appointments past and future; notifications/ adds their messages."""

    form = ContactAdminForm
    list_display = ["last_name", "first_name", "phone", "email", "sms_consent", "email_consent"]
    list_filter = ["sms_consent", "email_consent"]
    search_fields = ["last_name", "first_name", "phone", "email"]
    inlines = [ConsentRecordInline]
    readonly_fields = ["what_they_receive", "appointment_history"]
    details = ["first_name", "last_name", "phone", "email", "address", "sms_refused", "email_refused"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.details})]
        return [
            (None, {"fields": self.details}),
            (_("Ce que l'usager reçoit"), {"fields": ["what_they_receive"]}),
            (_("Rendez-vous de l'usager"), {"fields": ["appointment_history"]}),
        ]

    @admin.display(description=_("messages"))
    def what_they_receive(self, obj):
        sentence, warning = contact_reach_sentence(obj)
        if warning:
            return format_html('<strong class="reach-warning">⚠ {}</strong>', sentence)
        return sentence

    @admin.display(description=_("rendez-vous"))
    def appointment_history(self, obj):
        appointments = list(
            obj.appointments.select_related("motif", "place__organisation", "organisation")
            .prefetch_related("agents__user").order_by("-starts_at")
        )
        now = timezone.now()
        return render_to_string("admin/appointments/contact/appointments.html", {
            "upcoming": [a for a in reversed(appointments) if a.starts_at >= now],
            "past": [a for a in appointments if a.starts_at < now],
        })

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            contact = self.get_object(request, object_id)
            if contact is not None:
                sentence, warning = contact_reach_sentence(contact)
                if warning:
                    self.message_user(request, sentence, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def response_add(self, request, obj, post_url_continue=None):
        """Created while booking without JavaScript (`?next=` the booking form): back to the
        booking form, this citizen picked in it."""
        back = agenda_admin.return_url(request)
        if back and not {"_continue", "_addanother", "_popup"} & set(request.POST):
            self.message_user(request, _("L'usager %(name)s est enregistré.") % {"name": obj}, messages.SUCCESS)
            return HttpResponseRedirect(contact_pick.booking_url_with(back, obj.pk))
        return super().response_add(request, obj, post_url_continue)

    def save_model(self, request, obj, form, change):
        agent = agent_of(request)
        form.save_withdrawals(obj, agent)
        super().save_model(request, obj, form, change)
        form.save_grants(obj, agent)


def contact_reach_sentence(contact):
    """(sentence, is_warning): where this citizen's messages go, or that they get none."""
    found = reach.reach(contact, AGENT)
    notes = "".join(f" ({note})" for note in found.notes)
    if found.nothing:
        return _("%(name)s ne reçoit aucun message (ni SMS, ni e-mail)%(notes)s : prévenez-le vous-même de ses "
                 "rendez-vous.") % {"name": found.name, "notes": notes}, True
    if found.sms_to and found.email_to:
        where = _("par SMS au %(phone)s et par e-mail à %(email)s") % {"phone": found.sms_to, "email": found.email_to}
    elif found.sms_to:
        where = _("par SMS au %(phone)s") % {"phone": found.sms_to}
    else:
        where = _("par e-mail à %(email)s") % {"email": found.email_to}
    return _("%(name)s reçoit les messages de ses rendez-vous %(where)s%(notes)s.") % {
        "name": found.name, "where": where, "notes": notes}, False


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
    list_display = ["local_start", "agent_names", "participants", "motif", "place_name", "status"]
    list_filter = [("starts_at", admin.DateFieldListFilter), ("agents", OwnOrganisationsFilter),
                   ("motif__service", OwnOrganisationsFilter), ("place", OwnOrganisationsFilter), "status", "location_type"]
    search_fields = ["contacts__last_name", "contacts__first_name", "contacts__phone", "contacts__email"]
    list_select_related = ["motif__service", "place__organisation", "organisation"]
    date_hierarchy = "starts_at"
    readonly_fields = ["who_is_told", "free_slots", "booked_by", "booked_by_agent", "booked_at", "sequence"]
    fieldsets = [
        (None, {"fields": ["motif", "location_type", "place", "address", "visio_url", "date", "time", "confirm_unusual",
                           "duration_minutes", "assigned_agents", "participating_contacts"]}),
        (_("Ce que les usagers recevront"), {"fields": ["who_is_told"]}),
        (_("Statut"), {"fields": ["status", "cancellation_reason"]}),
        (_("Historique"), {"fields": ["booked_by", "booked_by_agent", "booked_at", "sequence"]}),
    ]

    class Media:
        css = {"all": ["appointments/agenda.css"]}
        js = ["appointments/autocomplete_label.js"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        agents = scope(Agent.objects.select_related("user"), request, "organisations").distinct()
        contacts = scope(Contact.objects.all(), request)

        # Contacts are many (one organisation can hold hundreds of thousands): search them
        # with the admin's autocomplete, and offer "+" to create one, consent included.
        # Without JavaScript, a page of its own searches and picks them (contact_pick.py).
        contacts_field = Appointment._meta.get_field("contacts")
        contacts_widget = RelatedFieldWidgetWrapper(
            contact_pick.ContactAutocomplete(contacts_field, self.admin_site,
                                             params=contact_pick.booking_params(request.GET)),
            contacts_field.remote_field, self.admin_site,
            can_add_related=self.admin_site._registry[Contact].has_add_permission(request),
        )

        proposed = _proposed_start(request, obj)
        back = agenda_admin.return_url(request)

        class ScopedForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, agents_queryset=agents, contacts_queryset=contacts, **kw)
                field = self.fields["participating_contacts"]
                # Read by free_slots(), which the admin calls with the instance alone.
                self.instance.return_url = back
                if obj is not None:
                    # Contacts stay as booked (the field is disabled): a plain list of them,
                    # without the autocomplete's search box, which has nothing to search.
                    field.queryset = obj.contacts.all()
                else:
                    field.widget = contacts_widget
                    field.queryset = contacts  # binds the new widget's choices
                if proposed and not self.is_bound:
                    # A free slot picked under "Déplacer": the form shows it, saving moves.
                    self.initial.update(date=proposed[0], time=proposed[1])
                    self.fields["date"].help_text = _("Nouveau créneau choisi : enregistrez pour déplacer le "
                                                      "rendez-vous (les usagers seront prévenus).")

        return ScopedForm

    @admin.display(description=_("messages"))
    def who_is_told(self, obj):
        """Per contact, exactly what they will receive, or a warning that they get nothing."""
        if obj is None or obj.pk is None:
            return _("Chaque usager reçoit la confirmation, les modifications, l'annulation et les rappels prévus "
                     "pour le motif (aucun rappel dont l'heure est déjà passée) par SMS s'il a donné un mobile "
                     "français, et par e-mail s'il a donné une adresse. Le détail par usager s'affiche une fois le "
                     "rendez-vous enregistré.")
        lines = [reach.sentences(contact, obj.starts_at, AGENT, motif=obj.motif, place=obj.place)[0]
                 for contact in obj.contacts.all()]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.display(description=_("prochains créneaux libres"))
    def free_slots(self, obj):
        """Rescheduling: the agents' next free slots for this motif and place, each a link that
        puts it in the form."""
        if obj is None or obj.pk is None or obj.status != AppointmentStatus.CONFIRMED:
            return _("Seul un rendez-vous confirmé peut être déplacé.") if obj is not None and obj.pk else "—"
        found = slots.next_free_slots(obj)
        if not found:
            return _("Aucun créneau libre pour ce motif dans les %(weeks)s prochaines semaines : saisissez la date "
                     "et l'heure ci-dessus.") % {"weeks": settings.BOOKING_MAX_WEEKS_AHEAD}
        back = getattr(obj, "return_url", None)

        def query(slot):
            params = {"date": slot.local_starts_at.date().isoformat(), "time": slot.local_starts_at.strftime("%H:%M")}
            return "?" + urlencode({**params, agenda_admin.RETURN_FIELD: back} if back else params, safe=":/")

        links = format_html_join(
            "", '<li><a class="button" href="{}">{}</a></li>',
            ((query(s), dates.french_datetime(s.local_starts_at)) for s in found),
        )
        return format_html('<ul class="reschedule-slots">{}</ul>', links)

    def tell_agent_who_is_told(self, request, appointment):
        """After booking: say what each contact will receive, as a warning when it is nothing."""
        if appointment.starts_at <= timezone.now():
            self.message_user(request, _("Le rendez-vous a déjà commencé : aucun message n'est envoyé, ni "
                                         "confirmation ni rappel."), messages.WARNING)
            return
        for contact in appointment.contacts.all():
            sentence, warning = reach.sentences(contact, appointment.starts_at, AGENT, now=appointment.booked_at,
                                                motif=appointment.motif, place=appointment.place)
            self.message_user(request, sentence, messages.WARNING if warning else messages.INFO)

    @admin.display(description=_("début (heure locale)"), ordering="starts_at")
    def local_start(self, obj):
        return obj.local_starts_at.strftime("%d/%m/%Y %H:%M")

    @admin.display(description=_("service"))
    def service_name(self, obj):
        return obj.motif.service.name

    @admin.display(description=_("usagers"))
    def participants(self, obj):
        names = ", ".join(str(c) for c in obj.contacts.all())
        marks = getattr(obj, "notice_marks", ())
        if not marks:
            return names
        # The agenda's marks about the citizens' messages (notices.py), next to their names.
        return format_html("{}{}", names, format_html_join(
            "", ' <span class="agenda-mark agenda-mark-{}" title="{}">⚠ {}<span class="visually-hidden"> : {}</span></span>',
            ((mark.kind, mark.detail, mark.label, mark.detail) for mark in marks)))

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if request.method == "GET":
            # The page's marks in one call (a constant number of queries), for participants().
            marks = notices.marks_for(changelist.result_list)
            for appointment in changelist.result_list:
                appointment.notice_marks = marks.get(appointment.pk, [])
        return changelist

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            appointment = self.get_object(request, object_id)
            if appointment is not None:
                for mark in notices.marks_for([appointment]).get(appointment.pk, []):
                    self.message_user(request, f"⚠ {mark.label} : {mark.detail}", messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("agents"))
    def agent_names(self, obj):
        return ", ".join(str(a) for a in obj.agents.all())

    @admin.display(description=_("lieu"), ordering="place__name")
    def place_name(self, obj):
        # The name only: the address would take half of a 1366-pixel screen.
        return obj.place.name if obj.place_id else obj.get_location_type_display()

    def get_queryset(self, request):
        # The contacts with their organisation: the marks (notices) ask whether each can receive SMS.
        contacts = Prefetch("contacts", queryset=Contact.objects.select_related("organisation"))
        return super().get_queryset(request).prefetch_related(contacts, "agents__user")

    def get_urls(self):
        agenda = path("agenda/", self.admin_site.admin_view(self.agenda_view), name="appointments_appointment_agenda")
        pick = path("usager/", self.admin_site.admin_view(self.pick_contact_view),
                    name="appointments_appointment_pick_contact")
        return [agenda, pick, *super().get_urls()]

    def agenda_view(self, request):
        return agenda_admin.agenda_view(self, request)

    def pick_contact_view(self, request):
        return contact_pick.pick_contact_view(self, request)

    def response_add(self, request, obj, post_url_continue=None):
        """Booked from the agenda: back to the agenda's week, where the new appointment shows."""
        response = super().response_add(request, obj, post_url_continue)
        from_agenda = request.GET.get("retour") == "agenda"
        if from_agenda and not {"_continue", "_addanother", "_popup"} & set(request.POST):
            agent = obj.agents.order_by("pk").first()
            if agent is not None:
                return HttpResponseRedirect(agenda_admin.agenda_url(
                    agent=agent, day=obj.local_starts_at.date(), place=obj.place, motif=obj.motif))
        return response

    def response_post_save_change(self, request, obj):
        """Saved from the agenda (rescheduled, cancelled): back to the week the agent came from."""
        back = agenda_admin.return_url(request)
        return HttpResponseRedirect(back) if back else super().response_post_save_change(request, obj)

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        back = agenda_admin.return_url(request)
        if back and "_continue" in request.POST and response.status_code == 302:
            # "Enregistrer et continuer": the page again, still knowing the way back.
            response["Location"] = request.path + "?" + urlencode({agenda_admin.RETURN_FIELD: back})
        return response

    def save_model(self, request, obj, form, change):
        """Book, change or cancel through the services, so each event is sent once."""
        self._check_organisation(request, obj)
        data, agent = form.cleaned_data, agent_of(request)
        for sentence in getattr(form, "unusual", []):
            # Confirmed by the agent; said again so that nothing passes silently.
            self.message_user(request, sentence, messages.WARNING)
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

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.status == AppointmentStatus.CONFIRMED:
            # Rescheduling, right under the date and time it changes.
            fieldsets = [fieldsets[0], (_("Déplacer sur un créneau libre"), {"fields": ["free_slots"]}), *fieldsets[1:]]
        return fieldsets

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if "assigned_agents" in initial:  # from the agenda: ?assigned_agents=3 or 3,4
            initial["assigned_agents"] = initial["assigned_agents"].split(",")
        if "participating_contacts" in initial:  # from the citizen search page, ids only (the widget queries them)
            initial["participating_contacts"] = contact_pick.contact_ids(initial["participating_contacts"])
        return initial

    def save_related(self, request, form, formsets, change):
        pass  # agents and contacts are saved by the services

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AdminValidationError as error:
            for message in error.error.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _proposed_start(request, obj):
    """(date, time) of a free slot picked for rescheduling (`?date=…&time=…`), or None."""
    if obj is None or request.method != "GET":
        return None
    try:
        return date.fromisoformat(request.GET["date"]), time.fromisoformat(request.GET["time"])
    except (KeyError, ValueError):
        return None


class AdminValidationError(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error
