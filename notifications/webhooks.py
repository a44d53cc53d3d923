"""Webhooks: Twilio's status callbacks and inbound SMS (signature checked with twilio's
RequestValidator against PUBLIC_BASE_URL + the path), and anymail's normalised tracking
events.

anymail's tracking route exists only for the ESP of EMAIL_BACKEND (`anymail_tracking`): with
SMTP, the outbox or any other backend there is none (404). When it exists it refuses every
request (403) until ANYMAIL_WEBHOOK_SECRET (HTTP basic auth, checked by anymail) and the ESP's
own signing key, where anymail verifies one, are set; anymail then answers 400 to a request
without them. `checks.py` reports the same gaps as errors.
"""

import logging
import re
import unicodedata

from anymail import urls as anymail_urls
from anymail.signals import tracking
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.dispatch import receiver
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from appointments.models import Channel, ConsentSource

from .models import Notification, Status, Suppression
from .status import TWILIO_STATUSES, anymail_status, apply_status, metadata_signature_ok, record_report, report_key
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
    error_code = request.POST.get("ErrorCode", "")
    apply_status(notification, status, raw_event=f"twilio:{raw}", provider_code=error_code,
                 provider_message_id=sid, event_key=report_key("twilio", sid, raw, error_code))
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


# --- anymail ----------------------------------------------------------------------------

# anymail's tracking views, by the name of the ESP's backend module (anymail.backends.<esp>),
# which is also the path segment of anymail's own URLs ("postmark", "amazon_ses"...).
TRACKING_VIEWS = {
    pattern.name.removesuffix("_tracking_webhook"): pattern.callback
    for pattern in anymail_urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
}

# The ESP's own signature that anymail verifies on tracking webhooks, as the anymail setting
# names (any one is enough) it reads the key from. Mailgun falls back to the API key, which
# is how Mailgun signs; the ESPs not listed (Brevo, Mailjet, Postmark, SparkPost, Amazon SES)
# have no signature anymail checks, so basic auth is their only protection.
SIGNING_SETTINGS = {
    "mailersend": ("signing_secret",),
    "mailgun": ("webhook_signing_key", "api_key"),
    "mailtrap": ("tracking_secret",),
    "mandrill": ("webhook_key",),
    "postal": ("webhook_key",),
    "resend": ("signing_secret",),
    "sendgrid": ("tracking_webhook_verification_key",),
    "unisender_go": ("api_key",),
}


def configured_esp():
    """The ESP of EMAIL_BACKEND ("postmark", ...) when it is one of anymail's with a tracking
    webhook, else None: SMTP, the outbox, locmem, anymail's console backend..."""
    module = settings.EMAIL_BACKEND.rpartition(".")[0]
    esp = module.removeprefix("anymail.backends.")
    return esp if module != esp and esp in TRACKING_VIEWS else None


def webhook_secret():
    return getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET") or getattr(settings, "ANYMAIL_WEBHOOK_SECRET", None)


def missing_signing_setting(esp):
    """The anymail setting name to set for `esp`'s signature, or None when none is missing."""
    names = SIGNING_SETTINGS.get(esp)
    if not names:
        return None
    esp_name = TRACKING_VIEWS[esp].view_class.esp_name
    if any(get_anymail_setting(name, esp_name=esp_name, default=None, allow_bare=True) for name in names):
        return None
    return f"ANYMAIL_{esp_name.upper().replace(' ', '_')}_{names[0].upper()}"


@csrf_exempt
def anymail_tracking(request, esp):
    """anymail's tracking webhook of the configured ESP, and of no other."""
    if esp != configured_esp():
        raise Http404
    if not webhook_secret() or missing_signing_setting(esp):
        # Fail closed: anymail itself would accept unauthenticated posts without the secret.
        log.warning("anymail %s tracking webhook refused: its authentication is not configured", esp)
        return HttpResponseForbidden("webhook authentication not configured")
    return TRACKING_VIEWS[esp](request)


def tracked_notification(event):
    """The email record an anymail event is about, or None.

    Found by the provider's message id stored on the record. The record id we put in the
    metadata is used only for a record that has no provider id yet (its sender crashed
    after the ESP took the message, before saving the id) and only with our signature: a
    forged or stray event cannot name an arbitrary record.
    """
    message_id = str(event.message_id or "")
    if message_id:
        notification = Notification.objects.filter(provider_message_id=message_id, channel=Channel.EMAIL).first()
        if notification is not None:
            return notification
    metadata = event.metadata or {}
    reference = str(metadata.get("notification_id", ""))
    if not (message_id and reference.isdigit() and metadata_signature_ok(reference, metadata.get("notification_sig"))):
        return None
    return Notification.objects.filter(pk=int(reference), channel=Channel.EMAIL, provider_message_id="",
                                       status__in=[Status.SENDING, Status.UNCERTAIN]).first()


@receiver(tracking, dispatch_uid="notifications.anymail_tracking")
def on_anymail_tracking(sender, event, esp_name, **kwargs):
    notification = tracked_notification(event)
    if notification is None:
        log.info("%s %s event for no known email, ignored", esp_name, event.event_type)
        return
    raw_event = f"{esp_name}:{event.event_type}"
    if event.event_id:
        key = report_key(esp_name, "id", event.event_id)
    else:
        key = report_key(esp_name, event.event_type, event.message_id, event.timestamp and event.timestamp.isoformat(),
                         event.reject_reason, event.recipient)
    if event.event_type in ("unsubscribed", "complained"):
        # Kept in the status log (the record's status unchanged), so that a replay of an old
        # unsubscribe adds nothing. The address we sent this message to opts out (not one the
        # report names: only the record, found by its provider id, is trusted), whichever
        # contact (or agent) holds it.
        if record_report(notification, notification.status, raw_event=raw_event, event_key=key):
            suppress(Channel.EMAIL, notification.to, source=ConsentSource.EMAIL_UNSUBSCRIBE)
        return
    status = anymail_status(event)
    if status is None:
        return  # opened, clicked...: not a delivery status we keep
    apply_status(notification, status, raw_event=raw_event, provider_code=(event.reject_reason or "")[:32],
                 provider_message_id=str(event.message_id or ""), event_key=key)
