"""Webhooks: Twilio's status callbacks and inbound SMS (signature checked with twilio's
RequestValidator against PUBLIC_BASE_URL + the path), and anymail's normalised tracking
events (anymail checks its WEBHOOK_SECRET and the ESP's signature)."""

import logging
import re
import unicodedata

from anymail.signals import tracking
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from appointments.models import Channel, ConsentSource

from .models import Notification, Suppression
from .status import TWILIO_STATUSES, anymail_status, apply_status
from .suppression import normalise, suppress

log = logging.getLogger(__name__)

# Replies that opt out of SMS: Twilio's own opt-out keywords, and French ones. Compared
# without accents, case or punctuation, on the first word (or first two glued together), so
# that "Stop merci", "ARRÊT", "stop." and "opt out" all count.
OPT_OUT_KEYWORDS = {
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
    "ARRET", "ARRETER", "STOPSMS", "DESABONNER", "DESINSCRIRE", "DESINSCRIPTION",
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_signature_ok(request):
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


@csrf_exempt
@require_POST
def twilio_status(request):
    if not twilio_signature_ok(request):
        return HttpResponseForbidden("invalid signature")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    raw = request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or ""
    status = TWILIO_STATUSES.get(raw)
    if not sid or status is None:
        return HttpResponseBadRequest("missing or unknown MessageSid/MessageStatus")
    notification = Notification.objects.filter(provider_message_id=sid, channel=Channel.SMS).first()
    if notification is None and request.GET.get("n", "").isdigit():
        # The sender crashed before saving Twilio's id: the URL names the record.
        notification = Notification.objects.filter(pk=int(request.GET["n"]), channel=Channel.SMS,
                                                    provider_message_id__in=["", sid]).first()
    if notification is None:
        log.warning("twilio status %s for an unknown message", raw)
        return HttpResponse(status=204)
    apply_status(notification, status, raw_event=f"twilio:{raw}", provider_code=request.POST.get("ErrorCode", ""),
                 provider_message_id=sid)
    return HttpResponse(status=204)


def normalise_reply(text):
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    return " ".join(re.sub(r"[^A-Z ]", " ", text).split())


def is_opt_out(body, opt_out_type=""):
    """Does this inbound SMS opt out? Twilio's Advanced Opt-Out says so itself in OptOutType;
    otherwise the first word decides."""
    if (opt_out_type or "").strip().upper() == "STOP":
        return True
    words = normalise_reply(body).split()
    return bool(words) and (words[0] in OPT_OUT_KEYWORDS or "".join(words[:2]) in OPT_OUT_KEYWORDS)


@csrf_exempt
@require_POST
def twilio_inbound(request):
    if not twilio_signature_ok(request):
        return HttpResponseForbidden("invalid signature")
    number = request.POST.get("From", "")
    opt_out_type = request.POST.get("OptOutType", "")
    if number and is_opt_out(request.POST.get("Body"), opt_out_type):
        suppress(Channel.SMS, number, source=ConsentSource.INBOUND_SMS)
    elif number and opt_out_type.strip().upper() == "START":
        # Twilio's Advanced Opt-Out: the person texted START and Twilio delivers to them
        # again; the number may receive SMS from the next booking that gives it.
        lifted = Suppression.objects.filter(channel=Channel.SMS, address=normalise(Channel.SMS, number)).delete()[0]
        log.info("inbound START: %d SMS suppression(s) lifted", lifted)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@receiver(tracking, dispatch_uid="notifications.anymail_tracking")
def on_anymail_tracking(sender, event, esp_name, **kwargs):
    notification = None
    if event.message_id:
        notification = Notification.objects.filter(provider_message_id=str(event.message_id), channel=Channel.EMAIL).first()
    reference = str((event.metadata or {}).get("notification_id", ""))
    if notification is None and reference.isdigit():
        notification = Notification.objects.filter(pk=int(reference), channel=Channel.EMAIL).first()
    if notification is None:
        return
    if event.event_type in ("unsubscribed", "complained"):
        # The address opts out, whichever contact (or agent) it was sent to.
        suppress(Channel.EMAIL, event.recipient or notification.to, source=ConsentSource.EMAIL_UNSUBSCRIBE)
        return
    status = anymail_status(event)
    if status is None:
        return  # opened, clicked...: not a delivery status we keep
    apply_status(notification, status, raw_event=f"{esp_name}:{event.event_type}",
                 provider_code=(event.reject_reason or "")[:32], provider_message_id=str(event.message_id or ""))
