from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# What demo agents need in the admin to see their appointments' notifications and resend one.
AGENT_PERMISSIONS = [
    ("notifications", "view_notification"),
    ("notifications", "resend_notification"),
    ("notifications", "view_statusevent"),
]


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from . import checks, receivers, webhooks  # noqa: F401  (register checks, connect receivers)
        from appointments import notices

        from .marks import citizen_marks

        notices.register(citizen_marks)
        from appointments.management.commands import seed_demo

        for permission in AGENT_PERMISSIONS:
            if permission not in seed_demo.EXTRA_PERMISSIONS:
                seed_demo.EXTRA_PERMISSIONS.append(permission)
