"""A circuit breaker per SMS provider, shared by every worker through Django's cache (Redis in
production: CACHE_URL), so that one worker's view of a failing provider is everyone's.

- closed: the provider takes messages. SMS_BREAKER_FAILURES transient failures in a row open
  it; so does one "provider down" answer (credits exhausted, HTTP 402) at once.
- open for SMS_BREAKER_OPEN_SECONDS: messages go to the next provider of SMS_BACKENDS.
- half-open, once that time is over: one message (the first worker to claim the probe) tries
  the provider again; success closes the breaker (traffic returns), failure opens it anew.

Any answer about the message itself (a permanent error: invalid number...) proves the provider
works, and counts as a success. "Too many requests" (ProviderThrottled, HTTP 429) is neither: the
provider works but we go too fast (notifications/throttle.py slows every worker down), so it
does not count as a failure, nor reset the failures in a row. Opening and closing are logged (an operator's alert) and kept
in SmsProviderEvent (admin); the deep health check reports the breakers
(notifications/health.py).
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

STATE_TTL = 7 * 24 * 3600  # an open breaker is remembered until it closes (or a week)
FAILURES_TTL = 3600  # failures "in a row" older than this are forgotten


class Breaker:
    def __init__(self, provider):
        self.provider = provider
        self.state_key = f"sms-breaker:{provider}:open"
        self.failures_key = f"sms-breaker:{provider}:failures"
        self.probe_key = f"sms-breaker:{provider}:probe"

    def opened(self):
        """The open state ({"until", "reason", "code", "since"}) or None when closed."""
        return cache.get(self.state_key)

    def state(self, now=None):
        opened = self.opened()
        if opened is None:
            return "closed"
        return "open" if (now or time.time()) < opened["until"] else "half_open"

    def allow(self):
        """May this message go to the provider? Closed: yes; open: no; half-open: only the one
        message that wins the probe (cache.add is atomic on Redis)."""
        opened = self.opened()
        if opened is None:
            return True
        if time.time() < opened["until"]:
            return False
        return cache.add(self.probe_key, 1, timeout=settings.SMS_BREAKER_OPEN_SECONDS)

    def success(self):
        # One read per message in the usual case (nothing recorded): no write.
        recorded = cache.get_many([self.state_key, self.failures_key])
        if not recorded:
            return
        cache.delete_many([self.state_key, self.failures_key, self.probe_key])
        if self.state_key in recorded:
            log.warning("SMS provider %s works again: its breaker is closed, traffic returns to it", self.provider)
            record_event(self.provider, "recovered", "Le fournisseur répond de nouveau.")

    def throttled(self):
        """The provider answered "too many requests": not a failure. A half-open probe that met
        it proved nothing either way, so the probe is handed back for the next message."""
        if self.opened() is not None:
            cache.delete(self.probe_key)

    def failure(self, error):
        """Count a transient failure; open the breaker when it is one too many. Returns True
        when this call opened it."""
        if self.opened() is not None:
            # A half-open probe failed (or a message sent before the breaker opened): open anew.
            self._open(error, again=True)
            return False
        if error.provider_down:
            return self._open(error)
        cache.add(self.failures_key, 0, timeout=FAILURES_TTL)
        try:
            failures = cache.incr(self.failures_key)
        except ValueError:  # expired between add and incr
            failures = 1
        if failures >= settings.SMS_BREAKER_FAILURES:
            return self._open(error)
        return False

    def _open(self, error, again=False):
        now = time.time()
        state = {"until": now + settings.SMS_BREAKER_OPEN_SECONDS, "since": now,
                 "reason": str(error)[:200], "code": error.code, "credits": bool(error.provider_down)}
        if again:
            previous = self.opened() or state
            cache.set(self.state_key, {**state, "since": previous["since"]}, timeout=STATE_TTL)
            cache.delete(self.probe_key)
            return False
        if not cache.add(self.state_key, state, timeout=STATE_TTL):
            return False  # another worker opened it first (and alerted)
        cache.delete(self.failures_key)
        kind = "credits" if error.provider_down else "failover"
        log.error("SMS provider %s %s (%s %s): breaker open for %ss, messages go to the next provider",
                  self.provider, "is out of credits" if error.provider_down else "is failing", error.code,
                  str(error)[:200], settings.SMS_BREAKER_OPEN_SECONDS)
        record_event(self.provider, kind, f"{error.code} {error}"[:500])
        return True


def record_event(provider, kind, detail):
    """Keep an operator's alert in the database (admin « Incidents des fournisseurs SMS »)."""
    from notifications.models import SmsProviderEvent

    try:
        SmsProviderEvent.objects.create(provider=provider, kind=kind, detail=detail)
    except Exception:  # an alert must never stop a send
        log.exception("could not record SMS provider event %s %s", provider, kind)


def breaker_states(names):
    """{provider: "closed" | "open" | "half_open"} for the deep health check and the admin."""
    now = time.time()
    return {name: Breaker(name).state(now) for name in names}
