"""A local stand-in for Twilio's REST API 2010-04-01 (the part the project uses: sending an SMS),
validated against Twilio's own OpenAPI description (/work/shared/specs/twilio_api_v2010.json, or
$TWILIO_OPENAPI_SPEC) with openapi-core.

It is a real HTTP server on 127.0.0.1 (ephemeral port):

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP basic auth with the account SID and
  auth token (401 + Twilio error 20003 otherwise); the form is checked against the spec (types,
  patterns, required ``To``) and against the spec's ``x-twilio.conditional`` rule (``From`` or
  ``MessagingServiceSid``; ``Body``, ``MediaUrl`` or ``ContentSid``); parameter names the spec does
  not know are refused too (``strict=False`` to accept them as Twilio silently does), so a typo in
  the project fails loudly. ``validation="fast"`` (``--validation fast``) checks the same spec
  schemas compiled once, ~50x faster, for benchmarks. A bad request gets 400 in Twilio's error shape ``{code, message,
  more_info, status}``. A good one gets 201 with a Message resource (sid "SM" + 32 hex, status
  "queued" — "accepted" when only a MessagingServiceSid is given, as Twilio does — and
  num_segments computed from the body: GSM-7 160/153 septets, UCS-2 70/67 code units).
- Faults: ``fail_next(n, status=500|429|400..., code=..., delay=..., retry_after=1)`` (a 429 carries
  ``Retry-After: 1``, as Twilio's API may send; ``retry_after=None`` leaves it out), ``set_delay(seconds)``,
  ``reject_recipient(number, code=21610)`` (a permanent per-number refusal).
- Status callbacks: ``deliver(sid, status="delivered", error_code=None)`` POSTs Twilio's form fields
  to the message's ``StatusCallback``, signed with ``X-Twilio-Signature`` by twilio's own
  ``RequestValidator.compute_signature``; ``auto_statuses=("sent", "delivered")`` sends them by
  itself right after acceptance. ``send_inbound(url, from_, body="STOP")`` posts an inbound SMS.

Pointing twilio-python (9.13) at it — the Api domain's ``base_url`` is a plain attribute that every
v2010 URL is built from (``Domain.absolute_url``)::

    client = twilio.rest.Client(account_sid, auth_token)
    client.api.base_url = settings.TWILIO_API_BASE_URL   # e.g. standin.url = "http://127.0.0.1:PORT"

In-process::

    with TwilioStandin() as twilio:            # or the ``twilio_standin`` pytest fixture
        ... TWILIO_API_BASE_URL=twilio.url, TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token
        twilio.wait_for_messages(1); twilio.messages[0].body

Out of process (benchmarks, fault tests)::

    python -m tests.support.twilio_standin --port 0 [--account-sid AC...] [--auth-token X]
        [--auto-statuses sent,delivered] [--lenient] [--validation full|fast]

prints one JSON line ``{"url": ..., "account_sid": ..., "auth_token": ...}`` then serves until
SIGTERM/SIGINT. Its control endpoints (no auth, 127.0.0.1 only), also used by
``tests.support.processes.twilio_standin_process`` which wraps them in the same Python API:

- ``GET  /_standin/stats``     → {"accepted", "rejected", "failed", "requests", "callbacks"}
- ``GET  /_standin/messages``  → {"count", "messages": [...]} (``?since=N`` skips the first N)
- ``POST /_standin/fail``      ← {"count", "status", "code"?, "message"?, "delay"?, "retry_after"?}
- ``POST /_standin/delay``     ← {"seconds"}
- ``POST /_standin/reject``    ← {"to", "code"?, "status"?}
- ``POST /_standin/deliver``   ← {"sid", "status"?, "error_code"?}
- ``POST /_standin/inbound``   ← {"url", "from", "body"?, "to"?}
- ``POST /_standin/reset``
"""

import argparse
import base64
import binascii
import dataclasses
import email.utils
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from .httpjson import BackgroundHTTPServer, QuietHandler, ServedStandin

SPEC_PATH = Path(os.environ.get("TWILIO_OPENAPI_SPEC", "/work/shared/specs/twilio_api_v2010.json"))
if not SPEC_PATH.exists():  # a fresh clone keeps shared/ beside the checkout
    SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "specs" / "twilio_api_v2010.json"
SPEC_SERVER = "https://api.twilio.com"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account_sid>[^/]+)/Messages\.json$")
API_VERSION = "2010-04-01"

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "standin-auth-token"
DEFAULT_FROM = "+15005550006"

# Twilio's error codes for the answers the stand-in gives (https://www.twilio.com/docs/errors/NNNNN).
ERROR_MESSAGES = {
    20001: "Invalid parameter",
    20003: "Authentication Error - invalid username",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
}
DEFAULT_CODE_FOR_STATUS = {400: 20001, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20500}

# --- SMS segments, the way Twilio bills them ----------------------------------------------------

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"  # two septets each (escape + character)


def sms_segments(body):
    """How many SMS segments `body` takes: GSM-7 when every character is in the GSM 03.38 alphabet
    (160 septets in one segment, 153 per segment when concatenated), else UCS-2 (70 / 67 UTF-16
    code units)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


# --- Validation against the spec -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _openapi():
    from openapi_core import Config, OpenAPI

    spec = json.loads(SPEC_PATH.read_text())
    # The published spec is trusted; checking the spec itself would cost seconds at each start.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None)), spec


def _create_message_operation():
    return _openapi()[1]["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]


class SpecRequest:
    """What openapi-core needs to know of a request (its Request protocol). The host is Twilio's,
    since the stand-in answers for it."""

    method = "post"
    host_url = SPEC_SERVER

    def __init__(self, path, body, content_type, authorization):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.path = path
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(
            header=Headers({"Authorization": authorization, "Content-Type": content_type}),
            query=ImmutableMultiDict(),
            cookie=ImmutableMultiDict(),
        )


def _reason(exc):
    """The innermost useful words of an openapi-core error (the schema errors, when there are)."""
    parts = []
    seen = exc
    while seen is not None:
        for error in getattr(seen, "schema_errors", None) or ():
            where = "/".join(str(p) for p in error.path)
            parts.append(f"{where}: {error.message}" if where else error.message)
        seen = seen.__cause__ or seen.__context__
    return "; ".join(parts) or str(exc)


def _form_schema():
    return _create_message_operation()["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]


def validate_create_message(path, body, content_type, authorization, strict=True, mode="full"):
    """Check one "create message" request against Twilio's OpenAPI spec. Returns the unmarshalled
    form (dict) or raises TwilioError(400, code, message).

    mode="full": openapi-core checks the whole request (path, security, media type, body), about
    10 ms a request. mode="fast": the same spec's schemas, compiled once with
    openapi-schema-validator (the validator openapi-core uses inside), about 0.2 ms — for
    benchmarks, where the full check would be the bottleneck."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    schema = _form_schema()
    if "To" not in form:
        raise TwilioError(400, 21604)
    unknown = sorted(set(form) - set(schema["properties"]))
    if unknown and strict:
        raise TwilioError(400, 20001, f"Unknown parameters (not in Twilio's spec): {', '.join(unknown)}")
    if mode == "fast":
        params = _fast_validate(path, form)
    else:
        openapi, _ = _openapi()
        result = openapi.unmarshal_request(SpecRequest(path, body, content_type, authorization))
        if result.errors:
            raise TwilioError(400, 20001, f"Invalid parameters: {_reason(result.errors[0])}")
        params = dict(result.body or {})
    # Twilio's "one of these is required" rules, written in the spec as x-twilio.conditional
    # with snake_case names (from → From, messaging_service_sid → MessagingServiceSid).
    by_snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in schema["properties"]}
    for group in _create_message_operation().get("x-twilio", {}).get("conditional", []):
        names = [by_snake[snake] for snake in group]
        if not any(params.get(name) not in (None, "", []) for name in names):
            code = {"From": 21603, "Body": 21602}.get(names[0], 20001)
            raise TwilioError(400, code, f"{ERROR_MESSAGES.get(code, 'Missing parameter')} (one of {', '.join(names)})")
    return params


def _inline_refs(node, spec):
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _inline_refs(target, spec)
        return {key: _inline_refs(value, spec) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, spec) for item in node]
    return node


@lru_cache(maxsize=1)
def _fast_validators():
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    _, spec = _openapi()
    body_schema = _inline_refs(_form_schema(), spec)
    [account] = [p for p in _create_message_operation()["parameters"] if p["name"] == "AccountSid"]
    return (
        OAS30Validator(body_schema, format_checker=oas30_format_checker),
        OAS30Validator(account["schema"], format_checker=oas30_format_checker),
        body_schema["properties"],
    )


def _cast(values, schema):
    """A form value as its schema's type (what openapi-core's form deserializer does); a value
    that does not cast stays a string, so that the schema check names it."""
    kind = schema.get("type")
    if kind == "array":
        return [_cast([value], schema.get("items", {})) for value in values]
    value = values[-1]
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
    except ValueError:
        pass
    return value


def _fast_validate(path, form):
    body_validator, account_validator, properties = _fast_validators()
    match = MESSAGES_PATH.match(path)
    for error in account_validator.iter_errors(match["account_sid"] if match else ""):
        raise TwilioError(400, 20001, f"Invalid parameters: AccountSid: {error.message}")
    params = {name: _cast(values, properties.get(name, {})) for name, values in form.items()}
    errors = sorted(body_validator.iter_errors(params), key=lambda e: list(e.path))
    if errors:
        reasons = "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" if e.path else e.message for e in errors)
        raise TwilioError(400, 20001, f"Invalid parameters: {reasons}")
    return params


def twilio_settings(standin, from_=DEFAULT_FROM, messaging_service_sid=None):
    """The project's settings that point it at a stand-in (in this process or another)."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": standin.url,
        "TWILIO_ACCOUNT_SID": standin.account_sid,
        "TWILIO_AUTH_TOKEN": standin.auth_token,
        "TWILIO_FROM": "" if messaging_service_sid else from_,
        "TWILIO_MESSAGING_SERVICE_SID": messaging_service_sid or "",
    }


class TwilioError(Exception):
    def __init__(self, status, code, message=None):
        self.status, self.code = status, code
        self.message = message or ERROR_MESSAGES.get(code, "Error")
        super().__init__(f"{status} {code} {self.message}")

    def as_json(self):
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


# --- The stand-in ----------------------------------------------------------------------------------


@dataclasses.dataclass
class AcceptedMessage:
    """One message the stand-in accepted (what Twilio would have sent)."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    num_segments: int
    status: str
    status_callback: str | None
    params: dict
    resource: dict
    received_at: float

    def as_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data):
        return cls(**data)


@dataclasses.dataclass
class Fault:
    status: int
    code: int
    message: str | None = None
    delay: float = 0.0
    retry_after: float | None = None  # seconds, sent as Retry-After (429 only)


@dataclasses.dataclass
class Callback:
    sid: str
    status: str
    url: str
    http_status: int | None  # None when the URL could not be reached
    params: dict


class TwilioStandin(ServedStandin):
    def __init__(
        self,
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        *,
        host="127.0.0.1",
        port=0,
        strict=True,
        validation="full",
        auto_statuses=(),
        auto_status_delay=0.0,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.strict = strict
        if validation not in ("full", "fast"):
            raise ValueError("validation must be 'full' or 'fast'")
        self.validation = validation
        self.auto_statuses = tuple(auto_statuses)
        self.auto_status_delay = auto_status_delay
        self._lock = threading.Lock()
        self._messages = []
        self._by_sid = {}
        self._faults = deque()
        self._rejected_recipients = {}
        self._delay = 0.0
        self._callbacks = []
        self._counts = {"requests": 0, "accepted": 0, "rejected": 0, "failed": 0}
        self._arrived = threading.Condition(self._lock)
        _openapi()  # load the spec now, not during the first request
        if validation == "fast":
            _fast_validators()
        self._server = BackgroundHTTPServer(_make_handler(self), host, port)

    # -- lifecycle

    @property
    def url(self):
        """The base URL to give as TWILIO_API_BASE_URL."""
        return self._server.url

    def client(self):
        """A real twilio-python Client talking to this stand-in."""
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token)
        client.api.base_url = self.url
        return client

    def settings(self, from_=DEFAULT_FROM, messaging_service_sid=None):
        """The project's settings that point it at this stand-in (for the `settings` fixture or a
        process environment); the sender is a number, or a messaging service when given."""
        return twilio_settings(self, from_, messaging_service_sid)

    # -- what happened

    @property
    def messages(self):
        """A snapshot of the accepted messages, in order of arrival."""
        with self._lock:
            return list(self._messages)

    def message(self, sid):
        with self._lock:
            return self._by_sid[sid]

    @property
    def callbacks(self):
        with self._lock:
            return list(self._callbacks)

    def stats(self):
        with self._lock:
            return dict(self._counts, callbacks=len(self._callbacks))

    def wait_for_messages(self, count, timeout=10.0):
        """Wait until at least `count` messages were accepted; returns them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self._messages)} SMS accepted after {timeout}s, expected {count}")
                self._arrived.wait(left)
            return list(self._messages)

    def reset(self):
        with self._lock:
            self._messages.clear()
            self._by_sid.clear()
            self._faults.clear()
            self._rejected_recipients.clear()
            self._callbacks.clear()
            self._delay = 0.0
            for key in self._counts:
                self._counts[key] = 0

    # -- faults

    def fail_next(self, count=1, status=500, code=None, message=None, delay=0.0, retry_after=1):
        """Answer the next `count` valid requests with this error instead of sending (400 with code
        21211 = invalid 'To', 21610 = unsubscribed recipient; 429 too many requests; 500/503).
        A 429 says `Retry-After: <retry_after>` (seconds; None: no header)."""
        code = code or DEFAULT_CODE_FOR_STATUS.get(status, 20500)
        retry_after = retry_after if status == 429 else None
        with self._lock:
            self._faults.extend(Fault(status, code, message, delay, retry_after) for _ in range(count))

    def set_delay(self, seconds):
        """Wait this long before answering every request (to exercise client timeouts)."""
        with self._lock:
            self._delay = float(seconds)

    def reject_recipient(self, to, code=21610, status=400):
        """Always refuse messages to this number (e.g. 21610: the recipient answered STOP)."""
        with self._lock:
            self._rejected_recipients[to] = Fault(status, code)

    # -- the API

    def handle_create_message(self, path, body, content_type, authorization):
        """Returns (status, json, headers). Called from the HTTP handler's thread."""
        with self._lock:
            self._counts["requests"] += 1
            delay = self._delay
        if delay:
            time.sleep(delay)
        try:
            match = MESSAGES_PATH.match(path)
            if not match:
                raise TwilioError(404, 20404)
            self._check_auth(match["account_sid"], authorization)
            if not content_type.startswith("application/x-www-form-urlencoded"):
                raise TwilioError(400, 20001, "Expected a form-encoded body")
            params = validate_create_message(
                path, body, content_type, authorization, strict=self.strict, mode=self.validation
            )
        except TwilioError as error:
            with self._lock:
                self._counts["rejected"] += 1
            return error.status, error.as_json(), []
        with self._lock:
            fault = self._rejected_recipients.get(params["To"]) or (self._faults.popleft() if self._faults else None)
            if fault:
                self._counts["failed"] += 1
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            headers = [] if fault.retry_after is None else [("Retry-After", f"{fault.retry_after:g}")]
            return fault.status, TwilioError(fault.status, fault.code, fault.message).as_json(), headers
        message = self._accept(params)
        if message.status_callback and self.auto_statuses:
            threading.Thread(target=self._auto_deliver, args=(message.sid,), daemon=True).start()
        return 201, message.resource, []

    def _check_auth(self, account_sid, authorization):
        try:
            scheme, _, encoded = (authorization or "").partition(" ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = scheme = ""
        if scheme.lower() != "basic" or user != self.account_sid or password != self.auth_token:
            raise TwilioError(401, 20003)
        if account_sid != self.account_sid:
            raise TwilioError(404, 20404)

    def _accept(self, params):
        sid = "SM" + secrets.token_hex(16)
        now = email.utils.format_datetime(datetime.now(timezone.utc))
        body = params.get("Body", "")
        from_ = params.get("From")
        service = params.get("MessagingServiceSid")
        status = "queued" if from_ else "accepted"
        segments = sms_segments(body)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": str(len(params.get("MediaUrl", []) or [])),
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": params["To"],
            "uri": uri,
        }
        message = AcceptedMessage(
            sid=sid,
            to=params["To"],
            from_=from_,
            messaging_service_sid=service,
            body=body,
            num_segments=segments,
            status=status,
            status_callback=params.get("StatusCallback"),
            params=json.loads(json.dumps(params, default=str)),
            resource=resource,
            received_at=time.time(),
        )
        with self._arrived:
            self._messages.append(message)
            self._by_sid[sid] = message
            self._counts["accepted"] += 1
            self._arrived.notify_all()
        return message

    # -- what Twilio sends back

    def _auto_deliver(self, sid):
        for status in self.auto_statuses:
            if self.auto_status_delay:
                time.sleep(self.auto_status_delay)
            self.deliver(sid, status)

    def deliver(self, sid, status="delivered", error_code=None):
        """POST a status callback for message `sid` to its StatusCallback, signed as Twilio signs.
        Returns the HTTP status the callback URL answered (None when unreachable)."""
        with self._lock:
            message = self._by_sid[sid]
            message.status = status
        if not message.status_callback:
            raise ValueError(f"message {sid} has no StatusCallback")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or DEFAULT_FROM,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        http_status = self.post_signed(message.status_callback, params)
        with self._lock:
            self._callbacks.append(Callback(sid, status, message.status_callback, http_status, params))
        return http_status

    def send_inbound(self, url, from_, body="STOP", to=DEFAULT_FROM):
        """POST an inbound SMS (what Twilio sends to a number's messaging webhook), signed.
        Returns the HTTP status the URL answered."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(sms_segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        if body.strip().upper() in {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}:
            params["OptOutType"] = "STOP"  # Twilio's Advanced Opt-Out adds this
        return self.post_signed(url, params)

    def sign(self, url, params):
        from twilio.request_validator import RequestValidator

        return RequestValidator(self.auth_token).compute_signature(url, params)

    def post_signed(self, url, params):
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": self.sign(url, params),
                "User-Agent": "TwilioProxy/1.1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None


def _make_handler(standin):
    class Handler(QuietHandler):
        def do_POST(self):
            path, _, query = self.path.partition("?")
            if path.startswith("/_standin/"):
                return self.control(path, self.read_json())
            status, payload, headers = standin.handle_create_message(
                path, self.read_body(), self.headers.get("Content-Type", ""), self.headers.get("Authorization", "")
            )
            headers = [("Twilio-Request-Id", "RQ" + secrets.token_hex(16)), *headers]
            if status == 401:
                headers.append(("WWW-Authenticate", 'Basic realm="Twilio API"'))
            self.send_json(status, payload, headers)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/_standin/stats":
                return self.send_json(200, standin.stats())
            if path == "/_standin/messages":
                since = int(urllib.parse.parse_qs(query).get("since", ["0"])[0])
                messages = standin.messages
                return self.send_json(
                    200, {"count": len(messages), "messages": [m.as_json() for m in messages[since:]]}
                )
            if path == "/_standin/callbacks":
                return self.send_json(200, {"callbacks": [dataclasses.asdict(c) for c in standin.callbacks]})
            self.send_json(404, TwilioError(404, 20404).as_json())

        def control(self, path, data):
            try:
                if path == "/_standin/fail":
                    standin.fail_next(
                        int(data.get("count", 1)),
                        int(data.get("status", 500)),
                        data.get("code"),
                        data.get("message"),
                        float(data.get("delay", 0)),
                        data.get("retry_after", 1),
                    )
                elif path == "/_standin/delay":
                    standin.set_delay(float(data["seconds"]))
                elif path == "/_standin/reject":
                    standin.reject_recipient(data["to"], int(data.get("code", 21610)), int(data.get("status", 400)))
                elif path == "/_standin/deliver":
                    http_status = standin.deliver(data["sid"], data.get("status", "delivered"), data.get("error_code"))
                    return self.send_json(200, {"http_status": http_status})
                elif path == "/_standin/inbound":
                    http_status = standin.send_inbound(
                        data["url"], data["from"], data.get("body", "STOP"), data.get("to", DEFAULT_FROM)
                    )
                    return self.send_json(200, {"http_status": http_status})
                elif path == "/_standin/reset":
                    standin.reset()
                else:
                    return self.send_json(404, {"error": f"unknown control path {path}"})
            except (KeyError, ValueError, TypeError) as exc:
                return self.send_json(400, {"error": f"{exc.__class__.__name__}: {exc}"})
            self.send_json(200, {"ok": True})

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local Twilio REST API stand-in (Messages.json).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = an ephemeral port (printed)")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--auto-statuses", default="", help="e.g. sent,delivered: callbacks sent by themselves")
    parser.add_argument("--auto-status-delay", type=float, default=0.0)
    parser.add_argument("--lenient", action="store_true", help="accept parameter names the spec does not know")
    parser.add_argument(
        "--validation", choices=("full", "fast"), default="full",
        help="full: openapi-core, ~10 ms a request; fast: the spec's schemas compiled once (benchmarks)",
    )
    args = parser.parse_args(argv)
    standin = TwilioStandin(
        args.account_sid,
        args.auth_token,
        host=args.host,
        port=args.port,
        strict=not args.lenient,
        validation=args.validation,
        auto_statuses=[s for s in args.auto_statuses.split(",") if s],
        auto_status_delay=args.auto_status_delay,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with standin:
        print(json.dumps({"url": standin.url, "account_sid": standin.account_sid, "auth_token": standin.auth_token}))
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()
