"""Which provider takes a message: the first of its route whose breaker lets it through.

A message's route is its organisation's (routes.py: the organisation's own, else its
territory's from SMS_BACKENDS_BY_TERRITORY, else SMS_BACKENDS); a message sent without an
organisation takes SMS_BACKENDS. Breakers are per provider, shared by every route: a provider
failing for one route is passed over by all.

One provider per attempt, never two: the record is claimed (delivery.py) before this is called,
and an attempt that meets an error ends there (a transient error releases the claim; the retry
comes back here and may pick the next provider if the first one's breaker opened meanwhile). So
a message is never handed to two providers at once, and the provider that took it is recorded
on the record.

With a single provider in a route its breaker holds messages back too while it is open: a batch
then defers its records at once (notifications/batches.py) instead of waiting for a provider
timeout on each, and its half-open probe tells when the provider is back.
"""

import dataclasses
import logging

from django.conf import settings
from django.core.cache import cache

from notifications import throttle
from notifications.errors import TransientDeliveryError

from . import wire
from .breaker import Breaker, record_event
from .routes import default_route, resolve

log = logging.getLogger(__name__)


class NoProviderUsable(TransientDeliveryError):
    pass


class SmsRouter:
    """One per task (a batch shares it): provider clients and resolved routes are kept for its
    life, so a batch of 100 messages reads each organisation's route once."""

    def __init__(self):
        self.classes = default_route().classes  # SMS_BACKENDS: ImproperlyConfigured at once if wrong
        self._instances = {}
        self._routes = {}

    def backend(self, cls):
        if cls not in self._instances:
            self._instances[cls] = cls()
        return self._instances[cls]

    def route(self, organisation=None):
        """The provider classes, in order, for `organisation`'s messages (None: SMS_BACKENDS)."""
        if organisation is None:
            return self.classes
        if organisation.pk not in self._routes:
            self._routes[organisation.pk] = resolve(organisation).classes
        return self._routes[organisation.pk]

    def usable(self, organisation=None):
        """Is any provider of the route's breaker not open? (A batch defers its rest when none is.)"""
        classes = self.route(organisation)
        return any(Breaker(cls.name).state() != "open" for cls in classes)

    def current(self, organisation=None):
        """The provider that would take the route's next message (without taking a half-open probe)."""
        classes = self.route(organisation)
        return next((cls.name for cls in classes if Breaker(cls.name).state() != "open"), None)

    def choose(self, classes):
        for cls in classes:
            if Breaker(cls.name).allow():
                return cls
        return None

    def send(self, message, organisation=None, before_request=None, route=None):
        """Hand `message` to one provider of `organisation`'s route. Returns (provider name,
        SmsResult); raises the provider's DeliveryError, or NoProviderUsable when every breaker
        of the route is open. The error carries `organisation`, so that a batch can ask
        current() about the route that failed. `before_request()` is called once the provider
        is chosen and its rate allows: by the connection as it writes the request (wire.py),
        or just before the backend is called. `route`: the route's classes when the caller
        resolved them (a sending thread must not query the database)."""
        classes = self.route(organisation) if route is None else route
        cls = self.choose(classes)
        if cls is None:
            providers = [backend.name for backend in classes]  # backend names, no personal data
            if cache.add(f"sms-breaker:all-down-alerted:{','.join(sorted(providers))}", 1, timeout=settings.SMS_BREAKER_OPEN_SECONDS):
                # Once per period and set of providers, not once per message or per route.
                log.critical("no SMS provider usable: every breaker of %s is open", providers)
                record_event("*", "all_down", "Tous les fournisseurs SMS sont en échec : " + ", ".join(providers))
            error = NoProviderUsable("every SMS provider is failing", code="all_down")
            error.organisation = organisation
            raise error
        if message.reference and message.status_callback is None:
            message = dataclasses.replace(message, status_callback=cls.status_callback_url(message.reference))
        backend = self.backend(cls)
        throttle.acquire(cls.name, settings.SMS_RATE_LIMIT)  # the provider's rate, shared by every worker
        if before_request is not None and cls.hooks_the_write:
            wire.on_write(before_request)  # called by the connection, as the request is written
        elif before_request is not None:
            before_request()
        try:
            result = backend.send_messages([message])[0]
        finally:
            wire.on_write(None)
        breaker = Breaker(cls.name)
        if result.error is None or not result.error.transient:
            breaker.success()  # the provider answered, even if it refused this message
        elif result.error.throttled:
            breaker.throttled()  # it works, we go too fast: not a failure
            throttle.pause(cls.name, result.error.retry_after)  # every worker waits, then goes on
        else:
            breaker.failure(result.error)
        if result.error is not None:
            result.error.organisation = organisation
            raise result.error
        return backend.name, result
