"""What an SMS provider's webhooks tell us, normalised (as anymail's tracking/inbound signals
do for email): each provider's webhook view verifies the request, parses it into these events
and sends them; notifications/status.py receives them, whichever provider they came from."""

from dataclasses import dataclass, field

from django.dispatch import Signal

# sender: the webhook view class; kwargs: event, provider
sms_status = Signal()
sms_inbound = Signal()


@dataclass
class SmsStatusEvent:
    provider: str  # "twilio", "brevo"
    message_id: str  # the provider's id of the message, as its send answer gave it
    status: str  # a notifications.models.Status a provider can report (sent, delivered, undelivered...)
    raw_status: str  # the provider's own word, for the status log
    error_code: str = ""  # the provider's (or carrier's) code for a failure
    # Our record's id, from the callback URL we gave with the message: only trusted for a
    # record that has no provider id yet (its sender crashed), see status.py.
    reference: str = ""
    event_key: str = ""  # identifies this report, so that a replay changes nothing
    esp_event: dict = field(default_factory=dict)


@dataclass
class SmsInboundEvent:
    provider: str
    from_number: str
    body: str = ""
    # The provider's own opt-out handling says so: "STOP" (opted out) or "START" (opted in
    # again); empty: the body's first word decides.
    opt_out_type: str = ""
    esp_event: dict = field(default_factory=dict)
