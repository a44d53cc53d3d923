from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AppointmentsConfig(AppConfig):
    name = "appointments"
    verbose_name = _("Rendez-vous")

    def ready(self):
        from . import checks, logins, page_cache  # noqa: F401  (registers the deployment checks, the login receiver)

        page_cache.connect_signals()
