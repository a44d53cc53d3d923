"""Which time zone an appointment's times are told in: decided here, and only here.

A place's own zone first; then the organisation's; then, for an organisation whose zone is
left empty but whose places all say the same zone (an overseas organisation set up the way
the admin's help texts suggest: the zone on each place), that zone; then TIME_ZONE. A
place without a zone counts as one in TIME_ZONE. Without
the third step a phone, video or home appointment of a Guyane organisation would be told in
Paris time.
"""

import zoneinfo

from django.conf import settings
from django.utils.translation import gettext_lazy as _


def organisation_zone_name(organisation):
    """The organisation's zone name: its own, else the one zone its places agree on, else ''."""
    if organisation.time_zone:
        return organisation.time_zone
    # Memoised on the instance: one query per organisation object, whatever the callers.
    if not hasattr(organisation, "_places_zone"):
        # A place without a zone is in the default one: it counts too.
        names = {name or settings.TIME_ZONE for name in organisation.places.values_list("time_zone", flat=True).distinct()}
        organisation._places_zone = names.pop() if len(names) == 1 else ""
    return organisation._places_zone


def place_zone_name(place):
    return place.time_zone or place.organisation.time_zone or settings.TIME_ZONE


def zone_for(organisation, place=None):
    """The ZoneInfo in which an appointment of `organisation` at `place` (None for phone,
    video and home appointments) is booked, shown and told."""
    if place is not None:
        return zoneinfo.ZoneInfo(place_zone_name(place))
    return zoneinfo.ZoneInfo(organisation_zone_name(organisation) or settings.TIME_ZONE)


# How a person is told which zone a time is in, next to the time: the admin, Flower's times
# (TIME_ZONE) and the appointment's own (its place's zone). The French territories by name;
# any other zone by its city.
ZONE_LABELS = {
    "Europe/Paris": _("heure de Paris"),
    "America/Guadeloupe": _("heure de la Guadeloupe"),
    "America/Martinique": _("heure de la Martinique"),
    "America/Cayenne": _("heure de Guyane"),
    "Indian/Reunion": _("heure de La Réunion"),
    "Indian/Mayotte": _("heure de Mayotte"),
    "America/Miquelon": _("heure de Saint-Pierre-et-Miquelon"),
    "America/St_Barthelemy": _("heure de Saint-Barthélemy"),
    "America/Marigot": _("heure de Saint-Martin"),
    "Pacific/Noumea": _("heure de la Nouvelle-Calédonie"),
    "Pacific/Tahiti": _("heure de Tahiti"),
    "Pacific/Wallis": _("heure de Wallis-et-Futuna"),
}


def zone_label(zone):
    """The words naming `zone` (a ZoneInfo or its name) next to a time: "heure de Paris" for
    Europe/Paris, "heure de Lisbon" for a zone not listed."""
    name = getattr(zone, "key", zone)
    if name in ZONE_LABELS:
        return str(ZONE_LABELS[name])
    return _("heure de %(city)s") % {"city": name.rsplit("/", 1)[-1].replace("_", " ")}
