"""A local stand-in for Brevo's transactional SMS API (POST /v3/transactionalSMS/sms), every
request validated with openapi-core against tests/specs/brevo_transactional_sms.yaml (Brevo's
published description, trimmed to that path; where it came from is written in it).

A real HTTP server on 127.0.0.1 (ephemeral port); its base URL is BREVO_API_BASE_URL:

- ``POST /v3/transactionalSMS/sms``: the ``api-key`` header must be the stand-in's key (401
  ``{"code": "unauthorized"}`` otherwise); the JSON body is checked against the spec (required
  sender, recipient, content; types, enums; unknown properties refused unless ``strict=False``)
  and Brevo's rules the schema only states in words (sender at most 11 alphanumeric or 15 digit
  characters; recipient digits with the country code). 400 ``{"code", "message"}`` for a bad
  request; 201 ``{"reference", "messageId", "smsCount", "usedCredits", "remainingCredits"}``.
- Faults: ``fail_next(n, status=500|402|429|400..., code=..., reset=1)`` (a 429 carries Brevo's
  rate-limit headers, ``x-sib-ratelimit-reset: <reset>`` seconds among them); ``set_credits(n)``: each SMS
  segment spends one credit, and with none left Brevo answers 402 ``not_enough_credits``.
- Status webhooks: ``deliver(message_id, status="delivered")`` POSTs Brevo's JSON event to the
  message's ``webUrl``, its credentials sent as HTTP basic auth, as Brevo does.

Out of process: ``python -m tests.support.brevo_standin --port 0 [--api-key K]`` prints
``{"url", "api_key"}``; control endpoints (``/_standin/stats``, ``/_standin/messages``,
``/_standin/fail``, ``/_standin/credits``, ``/_standin/deliver``, ``/_standin/reset``) are
wrapped by ``tests.support.processes.brevo_standin_process``.
"""

import argparse
import base64
import dataclasses
import json
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
from .twilio_standin import sms_segments

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "brevo_transactional_sms.yaml"
SPEC_SERVER = "https://api.brevo.com/v3"
SEND_PATH = "/v3/transactionalSMS/sms"
DEFAULT_API_KEY = "xkeysib-standin-" + "0" * 48
ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&+]{1,11}$")
NUMERIC_SENDER = re.compile(r"^\+?[0-9]{1,15}$")
RECIPIENT = re.compile(r"^[1-9][0-9]{7,14}$")


class BrevoError(Exception):
    def __init__(self, status, code, message, headers=()):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = list(headers)

    def as_json(self):
        return {"code": self.code, "message": self.message}


@lru_cache(maxsize=1)
def _openapi():
    import yaml
    from openapi_core import OpenAPI

    spec = yaml.safe_load(SPEC_PATH.read_text())
    return OpenAPI.from_dict(spec), spec


class SpecRequest:
    """What openapi-core needs of a request; the host is Brevo's, whose API the stand-in plays."""

    method = "post"
    host_url = "https://api.brevo.com"

    def __init__(self, body, content_type, api_key):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.path = SEND_PATH
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(header=Headers({"api-key": api_key, "Content-Type": content_type}),
                                            query=ImmutableMultiDict(), cookie=ImmutableMultiDict())


def _reason(exc):
    parts, seen = [], exc
    while seen is not None:
        for error in getattr(seen, "schema_errors", None) or ():
            where = "/".join(str(p) for p in error.path)
            parts.append(f"{where}: {error.message}" if where else error.message)
        seen = seen.__cause__ or seen.__context__
    return "; ".join(parts) or str(exc)


def validate_send(body, content_type, api_key, strict=True):
    """Check one send request against the spec and Brevo's worded rules; returns the JSON
    payload or raises BrevoError(400, ...)."""
    if not content_type.startswith("application/json"):
        raise BrevoError(400, "invalid_parameter", "Expected a JSON body")
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise BrevoError(400, "invalid_parameter", "Body is not JSON") from None
    openapi, spec = _openapi()
    result = openapi.unmarshal_request(SpecRequest(body, content_type, api_key))
    if result.errors:
        raise BrevoError(400, "invalid_parameter", f"Invalid parameters: {_reason(result.errors[0])}")
    known = set(spec["components"]["schemas"]["sendTransacSms"]["properties"])
    unknown = sorted(set(payload) - known)
    if unknown and strict:
        raise BrevoError(400, "invalid_parameter", f"Unknown parameters (not in Brevo's spec): {', '.join(unknown)}")
    sender = payload["sender"]
    if not (ALPHANUMERIC_SENDER.match(sender) or NUMERIC_SENDER.match(sender)) or sender.strip() == "":
        raise BrevoError(400, "invalid_parameter", "sender: at most 11 alphanumeric or 15 numeric characters")
    if not RECIPIENT.match(payload["recipient"]):
        raise BrevoError(400, "invalid_parameter", "recipient: a mobile number with its country code, digits only")
    if not payload["content"]:
        raise BrevoError(400, "missing_parameter", "content is empty")
    return payload


@dataclasses.dataclass
class AcceptedSms:
    message_id: int
    sender: str
    recipient: str
    content: str
    sms_count: int
    web_url: str | None
    payload: dict
    received_at: float

    def as_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data):
        return cls(**data)

    @property
    def to(self):
        return "+" + self.recipient


class BrevoStandin(ServedStandin):
    def __init__(self, api_key=DEFAULT_API_KEY, *, host="127.0.0.1", port=0, strict=True, credits=None):
        self.api_key = api_key
        self.strict = strict
        self._lock = threading.Lock()
        self._messages = []
        self._faults = deque()
        self._credits = credits
        self._counts = {"requests": 0, "accepted": 0, "rejected": 0, "failed": 0, "callbacks": 0}
        self._next_id = 1511882900176220 + secrets.randbelow(10**6) * 1000
        _openapi()  # load the spec now, not during the first request
        self._server = BackgroundHTTPServer(_make_handler(self), host, port)

    @property
    def url(self):
        """The base URL to give as BREVO_API_BASE_URL."""
        return self._server.url + "/v3"

    def settings(self, sender="RDV"):
        return brevo_settings(self, sender)

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    def stats(self):
        with self._lock:
            return dict(self._counts)

    def wait_for_messages(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} SMS accepted after {timeout}s, expected {count}")
            time.sleep(0.01)
        return self.messages

    def reset(self):
        with self._lock:
            self._messages.clear()
            self._faults.clear()
            self._credits = None
            for key in self._counts:
                self._counts[key] = 0

    def fail_next(self, count=1, status=500, code=None, message=None, reset=1):
        """Answer the next `count` requests with this error. A 429 carries the rate-limit headers
        Brevo sends (https://developers.brevo.com/docs/limit-headers): the window resets in
        `reset` seconds."""
        code = code or {402: "not_enough_credits", 401: "unauthorized"}.get(status, "invalid_parameter" if status < 429 else "")
        headers = []
        if status == 429:
            headers = [("x-sib-ratelimit-limit", "150"), ("x-sib-ratelimit-remaining", "0"),
                       ("x-sib-ratelimit-reset", f"{reset:g}")]
        with self._lock:
            self._faults.extend(BrevoError(status, code, message or f"stand-in fault {status}", headers)
                                for _ in range(count))

    def set_credits(self, credits):
        """Credits left (None: unlimited). Each segment spends one; none left → 402."""
        with self._lock:
            self._credits = credits

    def handle_send(self, path, body, content_type, api_key):
        """Returns (status, json, headers)."""
        with self._lock:
            self._counts["requests"] += 1
        try:
            if path != SEND_PATH:
                raise BrevoError(404, "document_not_found", "Not found")
            if api_key != self.api_key:
                raise BrevoError(401, "unauthorized", "Key not found")
            payload = validate_send(body, content_type, api_key, self.strict)
        except BrevoError as error:
            with self._lock:
                self._counts["rejected"] += 1
            return error.status, error.as_json(), []
        segments = sms_segments(payload["content"])
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._credits is not None and self._credits < segments:
                fault = BrevoError(402, "not_enough_credits", "You don't have enough credit to send your SMS.")
            if fault is not None:
                self._counts["failed"] += 1
                return fault.status, fault.as_json(), fault.headers
            if self._credits is not None:
                self._credits -= segments
            self._next_id += 1
            message = AcceptedSms(self._next_id, payload["sender"], payload["recipient"], payload["content"], segments,
                                  payload.get("webUrl"), payload, time.time())
            self._messages.append(message)
            self._counts["accepted"] += 1
            credits = self._credits
        return 201, {"reference": secrets.token_hex(10), "messageId": message.message_id, "smsCount": segments,
                     "usedCredits": float(segments), "remainingCredits": float(credits if credits is not None else 1000)}, []

    def event(self, message_id, status="delivered", extra=None):
        """(webUrl, the JSON event) Brevo would send for this message."""
        with self._lock:
            message = next(m for m in self._messages if m.message_id == int(message_id))
        return message.web_url, {"id": secrets.randbelow(10**6), "to": message.recipient, "sms_count": message.sms_count,
                 "credits_used": message.sms_count, "messageId": message.message_id, "msg_status": status,
                 "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), "type": "sms",
                 "tag": message.payload.get("tag", ""), **(extra or {})}

    def deliver(self, message_id, status="delivered", extra=None):
        """POST Brevo's event for a message to its webUrl (credentials as basic auth).
        Returns the HTTP status the webhook answered (None when unreachable)."""
        url, event = self.event(message_id, status, extra)
        status_code = post_event(url, event)
        with self._lock:
            self._counts["callbacks"] += 1
        return status_code


def post_event(url, event):
    """POST a JSON event as Brevo's webhooks do: credentials in the URL become basic auth."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json", "User-Agent": "Brevo-Webhook"}
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    request = urllib.request.Request(urllib.parse.urlunsplit(parts), data=json.dumps(event).encode(), method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def brevo_settings(standin, sender="RDV"):
    """The project's settings that point it at a Brevo stand-in (in process or out)."""
    return {"BREVO_API_BASE_URL": standin.url, "BREVO_API_KEY": standin.api_key, "BREVO_SMS_SENDER": sender,
            "BREVO_WEBHOOK_SECRET": "brevo:standin-webhook-secret"}


def _make_handler(standin):
    class Handler(QuietHandler):
        def do_POST(self):
            path, _, _query = self.path.partition("?")
            if path.startswith("/_standin/"):
                return self.control(path, self.read_json())
            status, payload, headers = standin.handle_send(path, self.read_body(), self.headers.get("Content-Type", ""),
                                                           self.headers.get("api-key", ""))
            self.send_json(status, payload, headers)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/_standin/stats":
                return self.send_json(200, standin.stats())
            if path == "/_standin/messages":
                since = int(urllib.parse.parse_qs(query).get("since", ["0"])[0])
                messages = standin.messages
                return self.send_json(200, {"count": len(messages), "messages": [m.as_json() for m in messages[since:]]})
            self.send_json(404, {"code": "document_not_found", "message": "Not found"})

        def control(self, path, data):
            try:
                if path == "/_standin/fail":
                    standin.fail_next(int(data.get("count", 1)), int(data.get("status", 500)), data.get("code"),
                                      data.get("message"), float(data.get("reset", 1)))
                elif path == "/_standin/credits":
                    standin.set_credits(data.get("credits"))
                elif path == "/_standin/deliver":
                    code = standin.deliver(data["message_id"], data.get("status", "delivered"), data.get("extra"))
                    return self.send_json(200, {"http_status": code})
                elif path == "/_standin/reset":
                    standin.reset()
                else:
                    return self.send_json(404, {"error": f"unknown control path {path}"})
            except (KeyError, ValueError, TypeError, StopIteration) as exc:
                return self.send_json(400, {"error": f"{exc.__class__.__name__}: {exc}"})
            self.send_json(200, {"ok": True})

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local Brevo transactional SMS API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    standin = BrevoStandin(args.api_key, host=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with standin:
        print(json.dumps({"url": standin.url, "api_key": standin.api_key}))
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()
