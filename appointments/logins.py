"""Agents' sessions: a login lasts a working day (ADMIN_SESSION_AGE), whatever the citizens'
sessions last (SESSION_COOKIE_AGE, the public pages' own business)."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in, dispatch_uid="appointments.agent_session_age")
def limit_agent_session(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session.set_expiry(settings.ADMIN_SESSION_AGE)
