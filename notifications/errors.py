"""One vocabulary for a message a provider did not take, SMS and email alike.

`transient`: the same request may work later (timeouts, connection errors, HTTP 5xx/429, SMTP
4xx): release the claim and retry. Otherwise permanent (invalid number or address, refused
content, an error raised before any request was made): record the failure and stop. `code` is
the provider's own code (Twilio 21211, SMTP 550, HTTP 400...), kept on the record for an agent.

`ProviderUnavailable` is transient for the message and says more about the provider: it will
refuse every message for a while (credits exhausted, HTTP 402). The SMS circuit breaker opens at
once on it instead of counting failures (notifications/sms/breaker.py).
"""


class DeliveryError(Exception):
    transient = False
    # Does this error say the provider as a whole is unusable (not just this message)?
    provider_down = False

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


class NotificationFailed(Exception):
    """Raised by a send task after it recorded a permanent failure, so that Celery (and Flower,
    and its metrics) count the task as FAILURE rather than SUCCESS."""
