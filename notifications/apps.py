from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# What demo agents need in the admin to see their appointments' notifications and resend one.
AGENT_PERMISSIONS = [
    ("notifications", "view_notification"),
    ("notifications", "resend_notification"),
    ("notifications", "view_statusevent"),
    ("notifications", "view_plannedreminder"),
    ("notifications", "view_unreachablecontact"),  # the data-quality list of unreachable numbers
]


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from . import checks, receivers, webhooks  # noqa: F401  (register checks, connect receivers)
        from appointments import notices

        from .marks import citizen_marks

        notices.register(citizen_marks)
        from appointments import reach

        from .promises import reminders_in_words

        reach.register_reminders(reminders_in_words)
        from appointments.management.commands import seed_demo

        from appointments.models import SHORT_NAME_CHECKS

        from .content import check_short_name

        if check_short_name not in SHORT_NAME_CHECKS:
            SHORT_NAME_CHECKS.append(check_short_name)  # the room our SMS leave for a service's short name
        for permission in AGENT_PERMISSIONS:
            if permission not in seed_demo.EXTRA_PERMISSIONS:
                seed_demo.EXTRA_PERMISSIONS.append(permission)
        from .demo import seed_sms_routes

        if seed_sms_routes not in seed_demo.EXTRA_DEMO_DATA:
            seed_demo.EXTRA_DEMO_DATA.append(seed_sms_routes)
