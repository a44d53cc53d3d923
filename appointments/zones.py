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
