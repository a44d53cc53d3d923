"""Brevo's transactional SMS webhook (/webhooks/brevo/status): the webUrl of every message we
send, called by Brevo for each event of that message with a JSON body
({"messageId", "msg_status", "to", "date", "description", "reply"...}).

Brevo signs nothing; the URL we gave carries BREVO_WEBHOOK_SECRET as credentials, which Brevo
sends back as HTTP basic auth: checked here (403 without them). "unsubscribed" and a reply are
inbound events (the number opts out, or its words decide).
"""

import base64
import binascii
import json

from django.conf import settings
from django.urls import path
from django.utils.crypto import constant_time_compare

from notifications.models import Status
from notifications.status import report_key

from ..signals import SmsInboundEvent, SmsStatusEvent
from .base import SmsWebhookView, WebhookInvalid, WebhookRefused

STATUSES = {
    "sent": Status.SENT, "accepted": Status.SENT, "delivered": Status.DELIVERED,
    "soft_bounce": Status.SOFT_BOUNCED, "softbounce": Status.SOFT_BOUNCED, "softbounces": Status.SOFT_BOUNCED,
    # A hard bounce is about the number (unknown, no longer assigned): undelivered, for good.
    "hard_bounce": Status.UNDELIVERED, "hardbounce": Status.UNDELIVERED, "hardbounces": Status.UNDELIVERED,
    "rejected": Status.FAILED, "skip": Status.FAILED, "skipped": Status.FAILED, "blacklisted": Status.FAILED,
}
OPT_OUTS = {"unsubscribe", "unsubscribed"}
REPLIES = {"replied", "reply"}


class BrevoStatusView(SmsWebhookView):
    provider = "brevo"
    def verify(self, request):
        secret = settings.BREVO_WEBHOOK_SECRET
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if not secret or scheme.lower() != "basic" or not constant_time_compare(given, secret):
            raise WebhookRefused("missing or wrong basic auth credentials")

    def parse(self, request):
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise WebhookInvalid("not JSON") from exc
        if not isinstance(data, dict):
            raise WebhookInvalid("not a JSON object")
        raw = str(data.get("msg_status") or data.get("event") or "").strip()
        word = raw.lower()
        number = str(data.get("to") or "")
        if word in OPT_OUTS or word in REPLIES:
            # Inbound news about the number the message went to (not a status of the message).
            if not number:
                raise WebhookInvalid("missing to")
            opt_out_type = "STOP" if word in OPT_OUTS else ""
            return [SmsInboundEvent(provider=self.provider, from_number=_e164(number), body=str(data.get("reply") or ""),
                                 opt_out_type=opt_out_type, esp_event=data)]
        message_id = str(data.get("messageId") or data.get("message_id") or "")
        if not message_id or word not in STATUSES:
            raise WebhookInvalid("missing messageId or unknown msg_status")
        code = str(data.get("error_code") or data.get("reason") or (word if STATUSES[word] in (Status.UNDELIVERED, Status.FAILED) else ""))
        return [SmsStatusEvent(
            provider=self.provider, message_id=message_id, status=STATUSES[word], raw_status=raw, error_code=code[:32],
            reference=request.GET.get("n", ""), event_key=report_key("brevo", message_id, word, data.get("date"), code),
            esp_event=data,
        )]



def _e164(number):
    return number if number.startswith("+") else "+" + number


urlpatterns = [
    path("status", BrevoStatusView.as_view(), name="brevo-status"),
]
