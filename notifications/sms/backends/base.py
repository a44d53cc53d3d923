"""The interface every SMS backend implements, shaped like Django's mail backends."""

from dataclasses import dataclass, field


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


class SmsError(Exception):
    """A message the provider did not accept. `transient` errors are worth retrying."""

    transient = False

    def __init__(self, message, *, code="", status=None):
        super().__init__(message)
        self.code = str(code or "")
        self.status = status


class TransientSmsError(SmsError):
    """Timeouts, connection errors, 5xx, 429: the same request may work later."""

    transient = True


class PermanentSmsError(SmsError):
    """Invalid number, unsubscribed recipient, refused content: retrying can't help."""


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
    """Subclasses implement send_one(); send_messages() returns one SmsResult per message,
    in order, never raising for a message the provider refused."""

    name = "base"

    def __init__(self, **options):
        self.options = options

    def send_messages(self, messages):
        results = []
        for message in messages:
            try:
                results.append(self.send_one(message))
            except SmsError as error:
                results.append(SmsResult(message=message, status="failed", error=error))
        return results

    def send_one(self, message):  # pragma: no cover - interface
        raise NotImplementedError
