"""Twilio, through twilio-python's Client.

Quirks kept here: the API base URL can point at a Twilio-compatible endpoint
(TWILIO_API_BASE_URL), the sender is a number/alphanumeric id or a messaging service, and
Twilio's errors are sorted into transient (retry) and permanent (record and stop).
"""

import logging
import threading
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.errors import retry_after

from .. import wire
from .base import (
    PROVIDER_DOWN_HTTP,
    THROTTLED_HTTP,
    TRANSIENT_HTTP,
    BaseSmsBackend,
    PermanentSmsError,
    ProviderThrottled,
    ProviderUnavailable,
    SmsResult,
    TransientSmsError,
)

# twilio-python logs eight INFO lines per request (URL, headers, response headers): keep
# them for WARNING and above, so a busy worker's log stays readable.
HTTP_LOG = logging.getLogger("notifications.sms.twilio_http")
HTTP_LOG.setLevel(logging.WARNING)

# Twilio error codes that are about the moment, not the message (queue full, rate limits).
TRANSIENT_CODES = {20429, 30001, 20500, 20503}
# "Too many requests": back-pressure (ProviderThrottled), whatever the HTTP status says.
THROTTLED_CODE = 20429


class Session(requests.Session):
    """requests reads the proxies and the CA bundle from the environment for every request
    (merge_environment_settings: 0.2 ms of CPU per SMS, py-spy, README "Benchmarks"). A
    process's environment does not change while it runs: read once per scheme and host (what
    NO_PROXY matches on) and per set of arguments."""

    def __init__(self):
        super().__init__()
        self._environment_settings = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        key = (urlsplit(url)[:2], tuple(sorted((proxies or {}).items())), stream, verify, cert)
        if key not in self._environment_settings:
            self._environment_settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged = self._environment_settings[key]
        return {**merged, "proxies": dict(merged["proxies"])}  # a copy: requests may change it


class HttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, keeping each thread's last response: TwilioRestException
    carries no headers, and a 429's Retry-After says how long to hold back. (The client's own
    last-response attribute is shared by every thread using the client.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        adapter = self.session.get_adapter("https://")  # as twilio-python set it up (its pool size)
        self.session = wire.mount(Session(), adapter)

    def request(self, *args, **kwargs):
        self._local.response = None
        response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    def last_headers(self):
        response = getattr(self._local, "response", None)
        return response.headers if response is not None else {}


class SmsBackend(BaseSmsBackend):
    name = "twilio"
    network = True
    hooks_the_write = True
    webhooks = "notifications.sms.webhooks.twilio"

    def __init__(self, account_sid=None, auth_token=None, from_=None, messaging_service_sid=None,
                 api_base_url=None, timeout=10, **options):
        super().__init__(**options)
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.from_ = from_ if from_ is not None else settings.TWILIO_FROM
        self.messaging_service_sid = (
            messaging_service_sid if messaging_service_sid is not None else settings.TWILIO_MESSAGING_SERVICE_SID
        )
        if not self.account_sid or not auth_token:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        if not self.from_ and not self.messaging_service_sid:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID.")
        self.http_client = HttpClient(timeout=timeout, logger=HTTP_LOG)
        self.client = Client(self.account_sid, auth_token, http_client=self.http_client)
        # Every product of the client is a "domain" with its own base URL; messages go
        # through the Api domain, so pointing it elsewhere is enough for a stand-in.
        base_url = api_base_url or settings.TWILIO_API_BASE_URL
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")

    def send_one(self, message):
        params = {"to": message.to, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if message.sender:
            # The brand's alphanumeric sender id (with a messaging service, one of its senders).
            params["from_"] = message.sender
        elif not self.messaging_service_sid:
            params["from_"] = self.from_
        if message.status_callback:
            params["status_callback"] = message.status_callback
        try:
            sent = self.client.messages.create(**params)
        except TwilioRestException as exc:
            if exc.status == THROTTLED_HTTP or exc.code == THROTTLED_CODE:
                raise ProviderThrottled(exc.msg or str(exc), code=exc.code or exc.status, status=exc.status,
                                        retry_after=retry_after(self.http_client.last_headers())) from exc
            if exc.status in PROVIDER_DOWN_HTTP:
                error_class = ProviderUnavailable
            elif exc.status in TRANSIENT_HTTP or exc.status >= 500 or exc.code in TRANSIENT_CODES:
                error_class = TransientSmsError
            else:
                error_class = PermanentSmsError
            raise error_class(exc.msg or str(exc), code=exc.code or exc.status, status=exc.status) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientSmsError(f"{exc.__class__.__name__}: Twilio unreachable", code="network") from exc
        except TwilioException as exc:
            raise TransientSmsError(str(exc), code="twilio") from exc
        segments = getattr(sent, "num_segments", None)
        return SmsResult(
            message=message, message_id=sent.sid, status=str(getattr(sent, "status", "") or "queued"),
            extra={"num_segments": segments},
        )

    @classmethod
    def status_callback_url(cls, reference):
        # The record's id in the URL: Twilio signs the whole URL, so a callback naming it is
        # Twilio's; it lets a callback settle a record whose sender crashed before saving the sid.
        return f"{settings.PUBLIC_BASE_URL}{reverse('notifications:twilio-status')}?n={reference}"

    @classmethod
    def check(cls):
        errors = []
        if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
            errors.append(Error("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.", id="notifications.E002"))
        if not settings.TWILIO_FROM and not settings.TWILIO_MESSAGING_SERVICE_SID:
            errors.append(Error("SMS_BACKEND=twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID.", id="notifications.E003"))
        return errors
