"""Sending SMS: `get_sms_backend()` returns a backend; `configured_backends()` the ordered
providers of SMS_BACKENDS (the first usable one takes each message, see router.py), the route
of every organisation without its own or its territory's (routes.py).

A backend is named by a short name (twilio, brevo, outbox, console, locmem) or the dotted path
of any BaseSmsBackend subclass, as Django's EMAIL_BACKEND is. Adding a provider: its backend
module, its webhook module, one line here.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .backends.base import BaseSmsBackend, PermanentSmsError, SmsError, SmsMessage, SmsResult, TransientSmsError

BACKENDS = {
    "twilio": "notifications.sms.backends.twilio.SmsBackend",
    "brevo": "notifications.sms.backends.brevo.SmsBackend",
    "outbox": "notifications.sms.backends.outbox.SmsBackend",
    "console": "notifications.sms.backends.console.SmsBackend",
    "locmem": "notifications.sms.backends.locmem.SmsBackend",
}

__all__ = ["BaseSmsBackend", "PermanentSmsError", "SmsError", "SmsMessage", "SmsResult", "TransientSmsError",
           "get_sms_backend", "backend_class", "configured_names", "configured_backends"]


def backend_class(name=None):
    name = name or configured_names()[0]
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


def configured_names():
    """SMS_BACKENDS in order; SMS_BACKEND alone when SMS_BACKENDS is empty (the one-item case)."""
    names = [name for name in (getattr(settings, "SMS_BACKENDS", None) or []) if name]
    return names or [settings.SMS_BACKEND]


def configured_backends():
    """The classes of SMS_BACKENDS, in order (ImproperlyConfigured for an unknown one)."""
    return [backend_class(name) for name in configured_names()]
