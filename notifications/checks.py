"""System checks (`manage.py check`, run by migrate and runserver too): delivery settings that
would fail at the first message, or leave a webhook open to forged reports."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from .sms import backend_class, configured_backends
from .sms.routes import territory_route_errors, territory_routes


@register(Tags.compatibility)
def check_sms_backend(app_configs, **kwargs):
    """Every provider of SMS_BACKENDS (or SMS_BACKEND) and of SMS_BACKENDS_BY_TERRITORY exists
    and has its settings: each backend checks its own (BaseSmsBackend.check), once however many
    routes name it. A territory must be a time zone (notifications/sms/routes.py)."""
    try:
        classes = configured_backends()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="notifications.E001")]
    errors = [Error(message, hint=hint, id="notifications.E012") for message, hint in territory_route_errors()]
    if not errors:
        for names in territory_routes().values():
            classes.extend(backend_class(name) for name in names)
    for cls in dict.fromkeys(classes):
        errors.extend(cls.check())
    return errors


# What operators accept in an alphanumeric sender id: letters, digits, spaces and a few
# signs, at most 11 characters, not only digits.
SENDER_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .-_&+")


@register(Tags.compatibility)
def check_sms_sender_ids(app_configs, **kwargs):
    from appointments.models import Brand

    errors = []
    for brand, sender in settings.SMS_SENDER_IDS.items():
        if brand not in Brand.values:
            errors.append(Error(f"SMS_SENDER_IDS names an unknown brand {brand!r}.",
                                hint=f"Brands: {', '.join(Brand.values)}.", id="notifications.E007"))
        elif not sender or len(sender) > 11 or set(sender) - SENDER_ID_CHARACTERS or sender.isdigit():
            errors.append(Error(
                f"SMS_SENDER_IDS: {sender!r} (brand {brand}) is not an alphanumeric sender id.",
                hint="At most 11 letters, digits, spaces or . - _ & +, not only digits.", id="notifications.E008",
            ))
    return errors


@register(Tags.security)
def check_anymail_webhook_secret(app_configs, **kwargs):
    """The configured ESP's tracking webhook is mounted (notifications/webhooks.py); without
    its authentication it would refuse every report (and anymail alone would accept forged
    ones): refuse to run that way. In DEBUG too: the route fails closed, but tracking would
    silently not work."""
    from .webhooks import configured_esp, missing_signing_setting, webhook_secret

    esp = configured_esp()
    if esp is None:
        return []
    errors = []
    if not webhook_secret():
        errors.append(Error(
            f"EMAIL_BACKEND is anymail's {esp} but ANYMAIL_WEBHOOK_SECRET is not set: its tracking webhook "
            f"(/webhooks/anymail/{esp}/tracking/) is mounted without authentication.",
            hint="Set ANYMAIL_WEBHOOK_SECRET=user:long-random-password and give the same to the ESP's webhook URL.",
            id="notifications.E004",
        ))
    setting = missing_signing_setting(esp)
    if setting:
        errors.append(Error(
            f"EMAIL_BACKEND is anymail's {esp}, whose tracking webhooks are signed, but {setting} is not set: "
            "its signature would not be checked.",
            hint=f"Set {setting} to the webhook signing key shown in the ESP's dashboard.",
            id="notifications.E005",
        ))
    return errors


def _url_patterns(patterns, prefix=""):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


@register(Tags.security, Tags.urls)
def check_no_open_anymail_routes(app_configs, **kwargs):
    """anymail's views mounted directly (e.g. `include("anymail.urls")`) skip our gate: they
    answer for every ESP, whatever EMAIL_BACKEND is, and accept unauthenticated reports when
    ANYMAIL_WEBHOOK_SECRET is unset. Only notifications.webhooks.anymail_tracking may call them."""
    from anymail.webhooks.base import AnymailCoreWebhookView
    from django.urls import get_resolver

    errors = []
    for route, pattern in _url_patterns(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "view_class", None)
        if isinstance(view_class, type) and issubclass(view_class, AnymailCoreWebhookView):
            errors.append(Error(
                f"anymail webhook view {view_class.__name__} is mounted directly at {route!r}, without the "
                "check of EMAIL_BACKEND and of its authentication.",
                hint="Remove include('anymail.urls'); /webhooks/anymail/<esp>/tracking/ serves the configured ESP.",
                id="notifications.E006",
            ))
    return errors
