"""System checks (`manage.py check`, run by migrate and runserver too): delivery settings that
would fail at the first message, or leave a webhook open to forged reports."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from .sms import backend_class


@register(Tags.compatibility)
def check_sms_backend(app_configs, **kwargs):
    try:
        cls = backend_class()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="notifications.E001")]
    errors = []
    if cls.name == "twilio":
        if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
            errors.append(Error("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.", id="notifications.E002"))
        if not settings.TWILIO_FROM and not settings.TWILIO_MESSAGING_SERVICE_SID:
            errors.append(Error("SMS_BACKEND=twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID.", id="notifications.E003"))
    return errors


@register(Tags.security)
def check_anymail_webhook_secret(app_configs, **kwargs):
    """anymail accepts tracking webhooks from anyone when WEBHOOK_SECRET is unset: refuse to
    run that way outside DEBUG, since those reports change records and withdraw consent."""
    if settings.DEBUG or not settings.EMAIL_BACKEND.startswith("anymail."):
        return []
    if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return []
    return [Error(
        "EMAIL_BACKEND is an anymail ESP but ANYMAIL_WEBHOOK_SECRET is not set: its tracking webhooks "
        "(/webhooks/anymail/) would accept forged delivery reports.",
        hint="Set ANYMAIL_WEBHOOK_SECRET=user:long-random-password and give the same to the ESP's webhook URL.",
        id="notifications.E004",
    )]
