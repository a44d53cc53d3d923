"""The interface every SMS backend implements, shaped like Django's mail backends."""

from dataclasses import dataclass, field

from notifications.errors import (
    DeliveryError,
    PermanentDeliveryError,
    ProviderThrottled,
    ProviderUnavailable,
    TransientDeliveryError,
)


@dataclass
class SmsMessage:
    to: str  # E.164
    body: str
    # Where the provider reports delivery statuses (None: no callback).
    status_callback: str | None = None
    # Ours, not the provider's: lets a test or an outbox tie the message to its record.
    reference: str = ""
    # The brand's alphanumeric sender id (SMS_SENDER_IDS); empty: the backend's own sender.
    sender: str = ""


# The SMS names of the one error vocabulary (notifications/errors.py), shared with email.
SmsError = DeliveryError
TransientSmsError = TransientDeliveryError
PermanentSmsError = PermanentDeliveryError


@dataclass
class SmsResult:
    message: SmsMessage
    message_id: str = ""
    status: str = "sent"
    error: SmsError | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.error is None


class BaseSmsBackend:
    """What every SMS backend is, shaped like anymail's base backend: this class owns the
    pipeline (send_messages: one SmsResult per message, in order, never raising for a message
    the provider refused; errors tagged with the provider's name) and a provider fills in small
    hooks:

    - `send_one(message)`: hand one message over, return an SmsResult or raise a DeliveryError;
    - `status_callback_url(reference)`: where this provider reports statuses for the record
      `reference` (None: it reports none), put on every message by the delivery;
    - `webhooks`: the dotted path of its webhook module, whose `urlpatterns` are mounted under
      /webhooks/<name>/ (notifications/sms/urls.py);
    - `check()`: system-check errors for its settings (notifications/checks.py);
    - `network`: True when it sends over the network, so that a batch sends its messages
      concurrently (notifications/senders.py); the instance is then used by one thread only.
    """

    name = "base"
    network = False
    # Its HTTP session sends through notifications/sms/wire.py: the connection itself calls the
    # "request leaves" hook (liveness) as the request is written.
    hooks_the_write = False
    webhooks = None

    def __init__(self, **options):
        self.options = options

    def send_messages(self, messages):
        results = []
        for message in messages:
            try:
                results.append(self.send_one(message))
            except DeliveryError as error:
                error.provider = error.provider or self.name
                results.append(SmsResult(message=message, status="failed", error=error))
        return results

    def send_one(self, message):  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def status_callback_url(cls, reference):
        return None

    @classmethod
    def check(cls):
        return []


# "Too many requests": back-pressure, not failure (ProviderThrottled).
THROTTLED_HTTP = 429
# HTTP statuses worth retrying: the provider was busy or broken, not the request.
TRANSIENT_HTTP = {408, 409, 425, 429, 500, 502, 503, 504}
# The provider refuses everything for now: 402 is "payment required", i.e. credits exhausted.
PROVIDER_DOWN_HTTP = {402}


def http_error(status, message, code="", retry_after=None):
    """The DeliveryError an HTTP error status means (for any provider's HTTP API);
    `retry_after`: seconds the provider asked us to wait, for a 429."""
    if status == THROTTLED_HTTP:
        return ProviderThrottled(message, code=code or status, status=status, retry_after=retry_after)
    if status in PROVIDER_DOWN_HTTP:
        error_class = ProviderUnavailable
    elif status in TRANSIENT_HTTP or status >= 500:
        error_class = TransientDeliveryError
    else:
        error_class = PermanentDeliveryError
    return error_class(message, code=code or status, status=status)
