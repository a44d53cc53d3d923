"""Which providers, in which order, carry an organisation's SMS: its route.

The first that applies:

1. the organisation's own route (OrganisationSmsRoute, set by an operator in the admin);
2. its territory's, from SMS_BACKENDS_BY_TERRITORY
   ("America/Guadeloupe=brevo,twilio;Indian/Reunion=brevo");
3. SMS_BACKENDS (or SMS_BACKEND alone): every other organisation, and messages sent without one.

A territory is named by its IANA time zone, the organisation's as appointments/zones.py
decides it (its own zone, else the one its places agree on, else TIME_ZONE): each overseas
territory has its own (America/Guadeloupe, America/Martinique, America/Cayenne, Indian/Reunion,
Indian/Mayotte, ...), the value is validated where admins type it, and it is already on every
overseas organisation, since its appointments are told in it. The model has no département
code, and addresses are free text. Mainland organisations all share Europe/Paris: one of them
that needs its own providers gets an organisation route.

The router (router.py) walks the route it gets here, each provider's breaker deciding; breakers
stay per provider, shared by every route.
"""

import functools
import logging
import zoneinfo

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _

from appointments.zones import organisation_zone_name

from . import backend_class, configured_names

log = logging.getLogger(__name__)

SETTING = "SMS_BACKENDS_BY_TERRITORY"


def split_names(text):
    """"brevo, twilio" -> ["brevo", "twilio"] (empty items dropped)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_territory_routes(value):
    """SMS_BACKENDS_BY_TERRITORY as {time zone: (provider, ...)}. Accepts the environment's text
    ("zone=a,b;zone=c") or a dict (a settings module). Raises ImproperlyConfigured naming the
    faulty item: a territory without providers, one listed twice, a provider twice in a route.
    Unknown zones and providers are the system check's to report (territory_route_errors)."""
    if isinstance(value, dict):
        items = [(zone, ",".join(names) if isinstance(names, (list, tuple)) else names) for zone, names in value.items()]
    else:
        items = []
        for item in (value or "").split(";"):
            if not item.strip():
                continue
            zone, equals, names = item.partition("=")
            if not equals:
                raise ImproperlyConfigured(
                    f"{SETTING}: {item.strip()!r} is not territory=provider,provider "
                    "(e.g. America/Guadeloupe=brevo,twilio; territories separated by ';')."
                )
            items.append((zone, names))
    routes = {}
    for zone, names in items:
        zone = zone.strip()
        providers = split_names(names)
        if not zone or not providers:
            raise ImproperlyConfigured(f"{SETTING}: {zone or '(empty)'}={names.strip()} needs a territory and at least one provider.")
        if zone in routes:
            raise ImproperlyConfigured(f"{SETTING}: territory {zone} is listed twice.")
        if len(set(providers)) != len(providers):
            raise ImproperlyConfigured(f"{SETTING}: territory {zone} names a provider twice ({','.join(providers)}).")
        routes[zone] = tuple(providers)
    return routes


@functools.lru_cache(maxsize=8)
def _parsed(text):
    return parse_territory_routes(text)


def territory_routes():
    """The parsed setting (parsed once per distinct value: the router asks per organisation)."""
    value = getattr(settings, SETTING, "") or ""
    return parse_territory_routes(value) if isinstance(value, dict) else _parsed(value)


def territory_route_errors():
    """What is wrong with SMS_BACKENDS_BY_TERRITORY, as (message, hint) pairs, for the system
    check: malformed text, a territory that is no time zone, an unknown provider."""
    try:
        routes = territory_routes()
    except ImproperlyConfigured as exc:
        return [(str(exc), None)]
    errors = []
    zones = zoneinfo.available_timezones()
    for zone, names in routes.items():
        if zone not in zones:
            errors.append((
                f"{SETTING}: {zone!r} is not a territory: territories are named by their time zone.",
                "The organisation's « fuseau horaire », e.g. America/Guadeloupe, America/Martinique, "
                "America/Cayenne, Indian/Reunion, Indian/Mayotte, Europe/Paris.",
            ))
        for name in names:
            try:
                backend_class(name)
            except ImproperlyConfigured as exc:
                errors.append((
                    f"{SETTING}: territory {zone} names {name!r}, which is not an SMS provider"
                    + (f" ({exc})." if "." in name else "."),
                    f"One of {', '.join(known_providers())}, or the dotted path of an SMS backend class.",
                ))
    return errors


def territory_of(organisation):
    """The territory whose route an organisation's SMS take: its time zone (see above)."""
    return organisation_zone_name(organisation) or settings.TIME_ZONE


def configured_here(cls):
    """Has this server what the provider needs (its check passes)? A route's provider that has
    not is passed over: an organisation route outlives a change of the server's settings."""
    return not any(message.is_serious() for message in cls.check())


def validate_provider_names(value):
    """An organisation route as typed in the admin: known providers, none twice."""
    names = split_names(value)
    if not names:
        raise ValidationError(_("Indiquez au moins un fournisseur."))
    if len(set(names)) != len(names):
        raise ValidationError(_("Un fournisseur figure deux fois."))
    for name in names:
        try:
            backend_class(name)
        except ImproperlyConfigured:
            raise ValidationError(
                _("« %(name)s » n'est pas un fournisseur SMS connu (%(known)s)."),
                params={"name": name, "known": ", ".join(known_providers())},
            ) from None


def known_providers():
    """The short names an operator can put in a route (dotted paths work too)."""
    from . import BACKENDS

    return [name for name in BACKENDS if name != "locmem"]


class Route:
    """A resolved route: the provider classes in order, and where it came from."""

    ORGANISATION, TERRITORY, DEFAULT = "organisation", "territory", "default"

    def __init__(self, classes, source, territory="", passed_over=()):
        self.classes = classes
        self.source = source
        self.territory = territory
        self.passed_over = tuple(passed_over)  # the organisation route's providers not configured here

    @property
    def names(self):
        return [cls.name for cls in self.classes]


def default_route(passed_over=()):
    return Route([backend_class(name) for name in configured_names()], Route.DEFAULT, passed_over=passed_over)


def organisation_route_names(organisation):
    """The providers of the organisation's own route, or None (one query). Through the reverse
    relation's model, so that this module (which models.py imports) imports no model."""
    routes = type(organisation).sms_route.related.related_model.objects
    providers = routes.filter(organisation_id=organisation.pk).values_list("providers", flat=True).first()
    return split_names(providers) if providers else None


def resolve(organisation):
    """The route of `organisation`'s SMS (None: the default route). An organisation route whose
    providers are unknown or not configured on this server is passed over (logged): its
    messages take the territory's or the default route rather than fail."""
    if organisation is None:
        return default_route()
    names = organisation_route_names(organisation)
    passed_over = []
    if names:
        classes = []
        for name in names:
            try:
                cls = backend_class(name)
            except ImproperlyConfigured:
                cls = None
            if cls is not None and configured_here(cls):
                classes.append(cls)
            else:
                passed_over.append(name)
        if passed_over:
            # Organisation ids and provider names only: no personal data.
            log.warning("SMS route of organisation %s: %s not usable on this server, passed over",
                        organisation.pk, ",".join(passed_over))
        if classes:
            return Route(classes, Route.ORGANISATION, passed_over=passed_over)
    routes = territory_routes()
    territory = territory_of(organisation) if routes else ""
    if territory in routes:
        return Route([backend_class(name) for name in routes[territory]], Route.TERRITORY, territory, passed_over)
    return default_route(passed_over)


def every_route_names():
    """Each distinct list of providers an SMS may take on this server, for the deep health
    check: the default route, each territory's, and each organisation route's providers that
    are configured here (one query). An organisation route with none configured here falls
    back to another route, already listed."""
    # By name, as organisation_route_names: models.py imports this module.
    routes_model = apps.get_model("notifications", "OrganisationSmsRoute")
    routes = {tuple(configured_names())}
    routes.update(tuple(names) for names in territory_routes().values())
    for providers in routes_model.objects.values_list("providers", flat=True).distinct():
        usable = []
        for name in split_names(providers):
            try:
                cls = backend_class(name)
            except ImproperlyConfigured:
                continue
            if configured_here(cls):
                usable.append(cls.name)
        if usable:
            routes.add(tuple(usable))
    return sorted(routes)
