"""One vocabulary for a message a provider did not take, SMS and email alike.

`transient`: the same request may work later (timeouts, connection errors, HTTP 5xx/429, SMTP
4xx): release the claim and retry. Otherwise permanent (invalid number or address, refused
content, an error raised before any request was made): record the failure and stop. `code` is
the provider's own code (Twilio 21211, SMTP 550, HTTP 400...), kept on the record for an agent.

`ProviderUnavailable` is transient for the message and says more about the provider: it will
refuse every message for a while (credits exhausted, HTTP 402). The SMS circuit breaker opens at
once on it instead of counting failures (notifications/sms/breaker.py).

`ProviderThrottled` is transient too, and is back-pressure rather than failure: the provider
works but asks us to slow down (HTTP 429, Twilio 20429). The breaker does not count it; the
delivery pipeline pauses the provider's shared rate for `retry_after` seconds
(notifications/throttle.py `pause()`) and tries the message again.
"""

import email.utils
import time


class DeliveryError(Exception):
    transient = False
    # Does this error say the provider as a whole is unusable (not just this message)?
    provider_down = False
    # Is it the provider asking us to slow down (back-pressure, not a failure)?
    throttled = False

    def __init__(self, message, *, code="", status=None, provider=""):
        super().__init__(message)
        self.code = str(code or "")
        self.status = status
        self.provider = provider


class TransientDeliveryError(DeliveryError):
    """Timeouts, connection errors, 5xx, 429: the same request may work later."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """Invalid number or address, unsubscribed recipient, refused content: retrying can't help."""


class ProviderUnavailable(TransientDeliveryError):
    """The provider refuses everything for now (credits exhausted): retry, elsewhere if possible."""

    provider_down = True


# When a throttled answer does not say how long to wait (no Retry-After header).
DEFAULT_RETRY_AFTER = 1.0


class ProviderThrottled(TransientDeliveryError):
    """Too many requests (HTTP 429, Twilio 20429): the provider works, we go too fast. Not a
    failure of the provider: the circuit breaker ignores it. `retry_after`: seconds to wait
    before the next request to this provider (its Retry-After header, else 1 s)."""

    throttled = True

    def __init__(self, message, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = DEFAULT_RETRY_AFTER if retry_after is None else max(0.0, float(retry_after))


def retry_after(headers):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date, RFC 9110
    10.2.3); None when there is none or it cannot be read (ProviderThrottled then waits 1 s)."""
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class NotificationFailed(Exception):
    """Raised by a send task after it recorded a permanent failure, so that Celery (and Flower,
    and its metrics) count the task as FAILURE rather than SUCCESS."""
