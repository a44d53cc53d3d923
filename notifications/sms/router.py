"""Which provider takes a message: the first of SMS_BACKENDS whose breaker lets it through.

One provider per attempt, never two: the record is claimed (delivery.py) before this is called,
and an attempt that meets an error ends there (a transient error releases the claim; the retry
comes back here and may pick the next provider if the first one's breaker opened meanwhile). So
a message is never handed to two providers at once, and the provider that took it is recorded
on the record.

With a single provider its breaker holds messages back too while it is open: a batch then defers
its records at once (notifications/batches.py) instead of waiting for a provider timeout on
each, and its half-open probe tells when the provider is back.
"""

import dataclasses
import logging

from django.conf import settings
from django.core.cache import cache

from notifications import throttle
from notifications.errors import TransientDeliveryError

from . import configured_backends
from .breaker import Breaker, record_event

log = logging.getLogger(__name__)


class NoProviderUsable(TransientDeliveryError):
    pass


class SmsRouter:
    def __init__(self):
        self.classes = configured_backends()
        self._instances = {}

    def backend(self, cls):
        if cls not in self._instances:
            self._instances[cls] = cls()
        return self._instances[cls]

    def usable(self):
        """Is any provider's breaker not open? (A batch defers its rest when none is.)"""
        return any(Breaker(cls.name).state() != "open" for cls in self.classes)

    def current(self):
        """The provider that would take the next message (without taking a half-open probe)."""
        return next((cls.name for cls in self.classes if Breaker(cls.name).state() != "open"), None)

    def choose(self):
        for cls in self.classes:
            if Breaker(cls.name).allow():
                return cls
        return None

    def send(self, message):
        """Hand `message` to one provider. Returns (provider name, SmsResult); raises the
        provider's DeliveryError, or NoProviderUsable when every breaker is open."""
        cls = self.choose()
        if cls is None:
            if cache.add("sms-breaker:all-down-alerted", 1, timeout=settings.SMS_BREAKER_OPEN_SECONDS):
                # Once per period, not once per message.
                providers = [backend.name for backend in self.classes]  # backend names, no personal data
                log.critical("no SMS provider usable: every breaker of %s is open", providers)
                record_event("*", "all_down", "Tous les fournisseurs SMS sont en échec.")
            raise NoProviderUsable("every SMS provider is failing", code="all_down")
        if message.reference and message.status_callback is None:
            message = dataclasses.replace(message, status_callback=cls.status_callback_url(message.reference))
        backend = self.backend(cls)
        throttle.acquire(cls.name, settings.SMS_RATE_LIMIT)  # the provider's rate, shared by every worker
        result = backend.send_messages([message])[0]
        breaker = Breaker(cls.name)
        if result.error is None or not result.error.transient:
            breaker.success()  # the provider answered, even if it refused this message
        elif result.error.throttled:
            breaker.throttled()  # it works, we go too fast: not a failure
            throttle.pause(cls.name, result.error.retry_after)  # every worker waits, then goes on
        else:
            breaker.failure(result.error)
        if result.error is not None:
            raise result.error
        return backend.name, result
