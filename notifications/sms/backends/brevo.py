"""Brevo's transactional SMS, through its documented HTTP API
(POST {BREVO_API_BASE_URL}/transactionalSMS/sms, header api-key; JSON in, JSON out).

Quirks kept here: the recipient is written without "+" ("33612345678"), the sender is an
alphanumeric id of at most 11 characters (the brand's, else BREVO_SMS_SENDER), text outside
GSM-7 needs unicodeEnabled, every message carries its own status webhook (webUrl, with the
credentials Brevo gives back as HTTP basic auth), and HTTP 402 means the account is out of
credits: the provider, not the message, is the problem (ProviderUnavailable). HTTP 429 is its
rate limit (150 requests/s for transactional SMS on the general tier): back-pressure
(ProviderThrottled), to wait for as long as its x-sib-ratelimit-reset header says.
"""

import logging
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from notifications.errors import retry_after
from notifications.gsm import is_gsm7

from .. import wire
from .base import BaseSmsBackend, SmsResult, TransientSmsError, http_error

log = logging.getLogger(__name__)


class SmsBackend(BaseSmsBackend):
    name = "brevo"
    network = True
    hooks_the_write = True
    webhooks = "notifications.sms.webhooks.brevo"

    def __init__(self, api_key=None, sender=None, api_base_url=None, timeout=10, **options):
        super().__init__(**options)
        self.api_key = api_key or settings.BREVO_API_KEY
        self.sender = sender if sender is not None else settings.BREVO_SMS_SENDER
        if not self.api_key:
            raise ImproperlyConfigured("SMS backend brevo needs BREVO_API_KEY.")
        self.url = (api_base_url or settings.BREVO_API_BASE_URL).rstrip("/") + "/transactionalSMS/sms"
        self.timeout = timeout
        self.session = wire.mount(requests.Session())  # one connection for a batch's messages
        self.session.headers.update({"api-key": self.api_key, "accept": "application/json"})

    def send_one(self, message):
        payload = {
            "sender": message.sender or self.sender,
            "recipient": message.to.removeprefix("+"),
            "content": message.body,
            "type": "transactional",
            "tag": "rdv",
        }
        if not is_gsm7(message.body):
            payload["unicodeEnabled"] = True
        if message.status_callback:
            payload["webUrl"] = message.status_callback
        try:
            response = self.session.post(self.url, json=payload, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientSmsError(f"{exc.__class__.__name__}: Brevo unreachable", code="network") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 201:
            error = data if isinstance(data, dict) else {}
            raise http_error(response.status_code, error.get("message") or f"HTTP {response.status_code}",
                             code=error.get("code") or response.status_code, retry_after=throttled_for(response.headers))
        if "remainingCredits" in data:
            log.info("brevo: %s SMS credits left", data["remainingCredits"])
        return SmsResult(message=message, message_id=str(data["messageId"]), status="sent",
                         extra={"num_segments": data.get("smsCount"), "remaining_credits": data.get("remainingCredits")})

    @classmethod
    def status_callback_url(cls, reference):
        # Brevo calls webUrl as given: the credentials in it come back as HTTP basic auth,
        # which the webhook checks (notifications/sms/webhooks/brevo.py).
        parts = urlsplit(f"{settings.PUBLIC_BASE_URL}{reverse('notifications:brevo-status')}?n={reference}")
        netloc = f"{settings.BREVO_WEBHOOK_SECRET}@{parts.netloc}" if settings.BREVO_WEBHOOK_SECRET else parts.netloc
        return urlunsplit(parts._replace(netloc=netloc))

    @classmethod
    def check(cls):
        errors = []
        if not settings.BREVO_API_KEY:
            errors.append(Error("SMS backend brevo needs BREVO_API_KEY.", id="notifications.E009"))
        if ":" not in settings.BREVO_WEBHOOK_SECRET:
            errors.append(Error(
                "SMS backend brevo needs BREVO_WEBHOOK_SECRET (user:password): without it its status webhook "
                "refuses every report.", hint="A long random user:password.", id="notifications.E010"))
        if not settings.BREVO_SMS_SENDER and (settings.SMS_SENDER_RECEIVES_REPLIES or not settings.SMS_SENDER_IDS):
            errors.append(Error("SMS backend brevo needs BREVO_SMS_SENDER when brands have no sender id.",
                                id="notifications.E011"))
        return errors


def throttled_for(headers):
    """Seconds until Brevo's rate-limit window resets (x-sib-ratelimit-reset, in seconds,
    https://developers.brevo.com/docs/limit-headers), or a standard Retry-After; None if neither."""
    seconds = retry_after(headers)
    if seconds is not None:
        return seconds
    try:
        return max(0.0, float(headers.get("x-sib-ratelimit-reset")))
    except (TypeError, ValueError):
        return None
