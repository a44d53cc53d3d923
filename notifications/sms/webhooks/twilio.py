"""Twilio's webhooks: status callbacks (/webhooks/twilio/status, the StatusCallback of every
message) and inbound SMS (/webhooks/twilio/inbound, a number's messaging webhook), both signed
with X-Twilio-Signature, checked with twilio's RequestValidator, TWILIO_AUTH_TOKEN and
PUBLIC_BASE_URL + the path (Twilio signs the URL it called)."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from twilio.request_validator import RequestValidator

from notifications.models import Status
from notifications.status import report_key

from ..signals import SmsInboundEvent, SmsStatusEvent
from .base import SmsWebhookView, WebhookInvalid, WebhookRefused

STATUSES = {
    "accepted": Status.SENT, "scheduled": Status.SENT, "queued": Status.SENT, "sending": Status.SENT,
    "sent": Status.SENT, "delivered": Status.DELIVERED, "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED, "failed": Status.FAILED, "canceled": Status.FAILED,
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class TwilioWebhookView(SmsWebhookView):
    provider = "twilio"

    def verify(self, request):
        token = settings.TWILIO_AUTH_TOKEN
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not signature:
            raise WebhookRefused("no signature, or no TWILIO_AUTH_TOKEN to check it")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        if not RequestValidator(token).validate(url, request.POST, signature):
            raise WebhookRefused("signature does not match")


class TwilioStatusView(TwilioWebhookView):
    def parse(self, request):
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
        raw = request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or ""
        if not sid or raw not in STATUSES:
            raise WebhookInvalid("missing or unknown MessageSid/MessageStatus")
        error_code = request.POST.get("ErrorCode", "")
        return [SmsStatusEvent(
            provider=self.provider, message_id=sid, status=STATUSES[raw], raw_status=raw, error_code=error_code,
            reference=request.GET.get("n", ""), event_key=report_key("twilio", sid, raw, error_code),
            esp_event=request.POST.dict(),
        )]


class TwilioInboundView(TwilioWebhookView):
    def parse(self, request):
        number = request.POST.get("From", "")
        if not number:
            return []
        return [SmsInboundEvent(provider=self.provider, from_number=number, body=request.POST.get("Body", ""),
                                opt_out_type=request.POST.get("OptOutType", ""), esp_event=request.POST.dict())]

    def answer(self, request):
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")


urlpatterns = [
    path("status", TwilioStatusView.as_view(), name="twilio-status"),
    path("inbound", TwilioInboundView.as_view(), name="twilio-inbound"),
]
