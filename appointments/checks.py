"""Deployment checks of the agents' side (`manage.py check --deploy`)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from .demo import DEMO_PASSWORD, DEMO_SUPERUSER, ORGANISATIONS


def demo_usernames():
    return [DEMO_SUPERUSER] + [username for spec in ORGANISATIONS for username, _, _ in spec["agents"]]


@register(Tags.security, deploy=True)
def check_no_demo_logins(app_configs, databases=None, **kwargs):
    """The demo logins' password is in the README: an active account that still has it (made by
    `seed_demo --demo-logins`, or in development) is open to anyone."""
    try:
        users = list(get_user_model().objects.filter(username__in=demo_usernames(), is_active=True))
    except DatabaseError:  # no database yet (a build step): nothing to report
        return []
    # hashers.check_password, not user.check_password: a check must not save (rehash) anything.
    open_logins = sorted(user.username for user in users if check_password(DEMO_PASSWORD, user.password))
    if not open_logins:
        return []
    return [Error(
        f"Demo logins with the README's password are active: {', '.join(open_logins)}.",
        hint="Deactivate these accounts or give them real passwords (manage.py changepassword <login>).",
        id="appointments.E001",
    )]
