"""django-dsfr's site configuration (SITE_CONFIG in every DSFR template), kept in memory, with
the page chrome rendered from it (SITE_CHROME, see the site_chrome tag).

django-dsfr's own context processor reads it from the database on every page, twice when no
configuration exists for the language. It changes only through the admin, rarely: each process
keeps it for SITE_CONFIG_SECONDS, and drops its copy at once when the change is made in the
process itself (the admin's)."""

import time

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import get_language
from dsfr.models import DsfrConfig

SITE_CONFIG_SECONDS = 60

# language -> (monotonic time of the read, DsfrConfig or None, {template: HTML} of the page
# chrome rendered with that configuration, filled by the site_chrome tag)
_kept = {}


def site_config(request):
    language = get_language()
    kept = _kept.get(language)
    if kept is None or time.monotonic() - kept[0] > SITE_CONFIG_SECONDS:
        # As django-dsfr does: the configuration of the language, else the first one.
        config = DsfrConfig.objects.filter(language=language).first() or DsfrConfig.objects.first()
        kept = _kept[language] = (time.monotonic(), config, {})
    return {"SITE_CONFIG": kept[1], "SITE_CHROME": kept[2]}


@receiver([post_save, post_delete], sender=DsfrConfig, dispatch_uid="forget_site_config")
def forget_site_config(**kwargs):
    _kept.clear()
