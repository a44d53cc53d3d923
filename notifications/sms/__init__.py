"""Sending SMS: `get_sms_backend()` returns the backend SMS_BACKEND names.

SMS_BACKEND is a short name (twilio, outbox, console, locmem) or the dotted path of any
BaseSmsBackend subclass, as Django's EMAIL_BACKEND is.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .backends.base import BaseSmsBackend, PermanentSmsError, SmsError, SmsMessage, SmsResult, TransientSmsError

BACKENDS = {
    "twilio": "notifications.sms.backends.twilio.SmsBackend",
    "outbox": "notifications.sms.backends.outbox.SmsBackend",
    "console": "notifications.sms.backends.console.SmsBackend",
    "locmem": "notifications.sms.backends.locmem.SmsBackend",
}

__all__ = ["BaseSmsBackend", "PermanentSmsError", "SmsError", "SmsMessage", "SmsResult", "TransientSmsError",
           "get_sms_backend", "backend_class"]


def backend_class(name=None):
    name = name or settings.SMS_BACKEND
    path = BACKENDS.get(name, name)
    if "." not in path:
        raise ImproperlyConfigured(
            f"SMS_BACKEND={name!r} is not one of {', '.join(BACKENDS)} nor a dotted path to a backend class."
        )
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SMS_BACKEND={name!r}: cannot import {path} ({exc}).") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseSmsBackend)):
        raise ImproperlyConfigured(f"SMS_BACKEND={name!r}: {path} is not a BaseSmsBackend subclass.")
    return cls


def get_sms_backend(name=None, **options):
    return backend_class(name)(**options)
