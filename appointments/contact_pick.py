"""Picking the citizen of a new appointment without JavaScript (AppointmentAdmin.get_urls
routes the page).

With JavaScript, the booking form's "Usagers" field is the admin's autocomplete. Without it,
that field is an empty list, so the form also renders (in <noscript>) a link to this page: a
search box, then the matching citizens of the agent's organisations, each a link back to the
booking form with that citizen picked and everything else as it was (the free slot's agent,
place, motif, date and time travel in the URL, as ids and dates).

The search is POSTed, not sent in the URL: what an agent types is a name, a phone number or
an email address, and personal data never goes into URLs (browser history, proxies' logs).
"""

from urllib.parse import parse_qsl, urlencode, urlparse

from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from .agenda_admin import RETURN_FIELD
from .models import Contact

# The booking form's parameters that travel through the page: ids, dates and times only.
BOOKING_PARAMS = ("motif", "place", "location_type", "date", "time", "duration_minutes", "assigned_agents",
                  "participating_contacts", "retour")
CONTACTS = "participating_contacts"
MAX_RESULTS = 20


def booking_params(query):
    """The booking form's parameters found in a query (a QueryDict or a dict), in order."""
    return {name: query[name] for name in BOOKING_PARAMS if query.get(name)}


def contact_ids(value):
    """The citizens already picked: `participating_contacts=3,7` as [3, 7]."""
    ids = []
    for part in (value or "").split(","):
        part = part.strip()
        if part.isdecimal() and len(part) <= 10 and int(part) not in ids:  # anything else is ignored
            ids.append(int(part))
    return ids


def with_contact(params, contact_id):
    """The booking parameters with one more citizen picked."""
    ids = [*contact_ids(params.get(CONTACTS)), contact_id]
    return {**params, CONTACTS: ",".join(str(i) for i in dict.fromkeys(ids))}


def add_url(params):
    return reverse("admin:appointments_appointment_add") + ("?" + urlencode(params, safe=":,") if params else "")


def pick_url(params):
    return reverse("admin:appointments_appointment_pick_contact") + ("?" + urlencode(params, safe=":,") if params else "")


def booking_url_with(url, contact_id):
    """`url` (already checked to be of this site), and when it is the booking form, with the
    citizen just created picked in it."""
    parsed = urlparse(url)
    if parsed.path != reverse("admin:appointments_appointment_add"):
        return url
    return add_url(with_contact(booking_params(dict(parse_qsl(parsed.query))), contact_id))


class ContactAutocomplete(AutocompleteSelectMultiple):
    """The admin's autocomplete, and for a browser without JavaScript a link to the page that
    searches and picks the citizen (`noscript`: with JavaScript the autocomplete is enough)."""

    def __init__(self, field, admin_site, *, params, **kwargs):
        super().__init__(field, admin_site, **kwargs)
        self.pick_url = pick_url(params)

    def render(self, name, value, attrs=None, renderer=None):
        rendered = super().render(name, value, attrs, renderer)
        fallback = format_html(
            '<noscript><link rel="stylesheet" href="{}"><p class="contact-pick-link"><a class="button" href="{}">{}</a>'
            '</p></noscript>', static("appointments/nojs.css"), self.pick_url, _("Chercher et choisir l’usager"))
        return rendered + fallback


def pick_contact_view(model_admin, request):
    contact_admin = model_admin.admin_site._registry[Contact]
    if not (model_admin.has_add_permission(request) and contact_admin.has_view_permission(request)):
        raise PermissionDenied
    params = booking_params(request.GET)
    term = request.POST.get("recherche", "").strip() if request.method == "POST" else ""
    results, more = [], False
    if term:
        # The autocomplete's own search: the contact admin's queryset (the agent's
        # organisations only) and its search fields.
        queryset = contact_admin.get_queryset(request).filter(anonymised_at__isnull=True)
        queryset, _duplicates = contact_admin.get_search_results(request, queryset, term)
        found = list(queryset.distinct().order_by("last_name", "first_name", "pk")[:MAX_RESULTS + 1])
        more = len(found) > MAX_RESULTS
        already = set(contact_ids(params.get(CONTACTS)))
        results = [{"contact": c, "url": add_url(with_contact(params, c.pk)), "picked": c.pk in already}
                   for c in found[:MAX_RESULTS]]
    picked = list(contact_admin.get_queryset(request).filter(pk__in=contact_ids(params.get(CONTACTS))))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Choisir l’usager du rendez-vous"),
        "term": term,
        "searched": request.method == "POST",
        "results": results,
        "more": more,
        "max_results": MAX_RESULTS,
        "picked": picked,
        "back_url": add_url(params),
        "new_contact_url": (reverse("admin:appointments_contact_add") + "?" + urlencode({RETURN_FIELD: add_url(params)})
                            if contact_admin.has_add_permission(request) else None),
    }
    return TemplateResponse(request, "admin/appointments/appointment/pick_contact.html", context)
