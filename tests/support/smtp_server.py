"""A real SMTP server for tests (aiosmtpd's threaded ``Controller``) on 127.0.0.1, ephemeral port,
that keeps every message it receives parsed with the ``email`` package.

In-process::

    with SMTPServer() as smtp:                 # or the ``smtp_server`` pytest fixture
        ... EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=smtp.host, EMAIL_PORT=smtp.port       (smtp.settings() gives them all)
        [mail] = smtp.wait_for_messages(1)
        mail.subject, mail.to, mail.text, mail.html, mail.attachments, mail.calendar

Faults: ``fail_next(n, code=451)`` answers the next n messages with 421/451 (transient) or 550
(permanent) after DATA (Django raises SMTPDataError); ``stage="rcpt"`` refuses at RCPT TO instead
(one fault per recipient; Django raises SMTPRecipientsRefused). Latency: ``set_delay(seconds)``
answers every message that long after its data arrived (other connections are served meanwhile).

Out of process (benchmarks, fault tests)::

    python -m tests.support.smtp_server --port 0 [--control-port 0]

prints one JSON line ``{"host", "port", "control_url"}`` then serves until SIGTERM/SIGINT. The
counts and messages are read over a tiny HTTP JSON endpoint on ``control_url`` (chosen over a file
so that readers never see a half-written state):

- ``GET  /_standin/stats``     → {"received", "failed"}
- ``GET  /_standin/messages``  → {"count", "messages": [{mail_from, rcpt_tos, subject, raw_b64}]}
  (``?since=N`` skips the first N)
- ``POST /_standin/fail``      ← {"count", "code"?, "message"?, "stage"?: "data" | "rcpt"}
- ``POST /_standin/reset``

``tests.support.processes.smtp_server_process`` starts it and offers the same Python API.
"""

import argparse
import asyncio
import base64
import dataclasses
import email
import email.policy
import json
import logging
import signal
import sys
import threading
import time
import urllib.parse
from collections import deque

from aiosmtpd.controller import Controller

from .httpjson import BackgroundHTTPServer, QuietHandler

# aiosmtpd logs every envelope address at INFO: keep addresses out of the test logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)

DEFAULT_REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.1 Mailbox temporarily unavailable",
    451: "451 4.3.0 Requested action aborted: local error in processing",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 Mailbox unavailable",
    552: "552 5.3.4 Message size exceeds fixed limit",
    554: "554 5.7.1 Transaction failed",
}


def smtp_settings(host, port):
    """The Django settings that send email to an SMTP stand-in at host:port."""
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": host,
        "EMAIL_PORT": port,
        "EMAIL_USE_TLS": False,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
    }


@dataclasses.dataclass
class Attachment:
    filename: str | None
    content_type: str
    content: object  # str for text/* parts, bytes otherwise


@dataclasses.dataclass
class ReceivedEmail:
    """One message the server accepted, with its SMTP envelope and its parsed content."""

    mail_from: str
    rcpt_tos: list
    raw: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def subject(self):
        return str(self.message["Subject"] or "")

    @property
    def from_header(self):
        return str(self.message["From"] or "")

    @property
    def to(self):
        return [address.addr_spec for address in self.message["To"].addresses] if self.message["To"] else []

    def _body(self, subtype):
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            return None
        return part.get_content().replace("\r\n", "\n")  # SMTP carries CRLF; the sender wrote \n

    @property
    def text(self):
        """The text/plain body (None when there is none)."""
        return self._body("plain")

    @property
    def html(self):
        """The text/html body (None when there is none)."""
        return self._body("html")

    @property
    def attachments(self):
        return [
            Attachment(part.get_filename(), part.get_content_type(), part.get_content())
            for part in self.message.iter_attachments()
        ]

    def parts(self, content_type):
        """Every leaf part of this content type, wherever it sits (attachment or alternative)."""
        return [part for part in self.message.walk() if part.get_content_type() == content_type]

    @property
    def calendar(self):
        """The text of the first text/calendar part (an .ics attachment or an alternative), or None."""
        parts = self.parts("text/calendar")
        return parts[0].get_content() if parts else None

    def as_json(self):
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "raw_b64": base64.b64encode(self.raw).decode(),
        }

    @classmethod
    def from_json(cls, data):
        return cls(data["mail_from"], data["rcpt_tos"], base64.b64decode(data["raw_b64"]))


@dataclasses.dataclass
class Fault:
    reply: str
    stage: str


class _Handler:
    """aiosmtpd handler: the server's state, shared with the test thread under a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.messages = []
        self.faults = deque()
        self.counts = {"received": 0, "failed": 0}
        self.delay = 0.0  # seconds before answering DATA: a real server's (or ESP's) latency

    def _take_fault(self, stage):
        with self.lock:
            if self.faults and self.faults[0].stage == stage:
                self.counts["failed"] += 1
                return self.faults.popleft()
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._take_fault("rcpt")
        if fault:
            return fault.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)  # other connections go on meanwhile
        fault = self._take_fault("data")
        if fault:
            return fault.reply
        received = ReceivedEmail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        with self.arrived:
            self.messages.append(received)
            self.counts["received"] += 1
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """aiosmtpd's Controller connects to its own port to check it started; with port 0 it must
    first learn which port the system gave."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SMTPServer:
    def __init__(self, host="127.0.0.1", port=0):
        self._handler = _Handler()
        self._controller = _EphemeralController(self._handler, hostname=host, port=port)

    @property
    def host(self):
        return self._controller.hostname

    @property
    def port(self):
        return self._controller.port

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def settings(self):
        """The Django settings that send email to this server."""
        return smtp_settings(self.host, self.port)

    @property
    def messages(self):
        with self._handler.lock:
            return list(self._handler.messages)

    def stats(self):
        with self._handler.lock:
            return dict(self._handler.counts)

    def wait_for_messages(self, count, timeout=10.0):
        """Wait until at least `count` messages arrived; returns them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._handler.arrived:
            while len(self._handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self._handler.messages)} emails received after {timeout}s, expected {count}"
                    )
                self._handler.arrived.wait(left)
            return list(self._handler.messages)

    def fail_next(self, count=1, code=451, message=None, stage="data"):
        """Refuse the next `count` messages (stage="data") or recipients (stage="rcpt") with this
        SMTP reply: 421/450/451/452 are transient, 550/552/554 permanent."""
        if stage not in ("data", "rcpt"):
            raise ValueError("stage must be 'data' or 'rcpt'")
        reply = f"{code} {message}" if message else DEFAULT_REPLIES.get(code, f"{code} Refused by the test server")
        with self._handler.lock:
            self._handler.faults.extend(Fault(reply, stage) for _ in range(count))

    def set_delay(self, seconds):
        """Answer every message `seconds` after its data arrived, as a distant server does."""
        with self._handler.lock:
            self._handler.delay = float(seconds)

    def reset(self):
        with self._handler.lock:
            self._handler.delay = 0.0
            self._handler.messages.clear()
            self._handler.faults.clear()
            for key in self._handler.counts:
                self._handler.counts[key] = 0


def _control_handler(server):
    class Handler(QuietHandler):
        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/_standin/stats":
                return self.send_json(200, server.stats())
            if path == "/_standin/messages":
                since = int(urllib.parse.parse_qs(query).get("since", ["0"])[0])
                messages = server.messages
                return self.send_json(200, {"count": len(messages), "messages": [m.as_json() for m in messages[since:]]})
            self.send_json(404, {"error": "not found"})

        def do_POST(self):
            data = self.read_json()
            try:
                if self.path == "/_standin/fail":
                    server.fail_next(
                        int(data.get("count", 1)), int(data.get("code", 451)), data.get("message"), data.get("stage", "data")
                    )
                elif self.path == "/_standin/delay":
                    server.set_delay(float(data.get("seconds", 0)))
                elif self.path == "/_standin/reset":
                    server.reset()
                else:
                    return self.send_json(404, {"error": "not found"})
            except (ValueError, TypeError) as exc:
                return self.send_json(400, {"error": str(exc)})
            self.send_json(200, {"ok": True})

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local SMTP server that keeps what it receives.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="SMTP port; 0 = ephemeral (printed)")
    parser.add_argument("--control-port", type=int, default=0, help="HTTP JSON control port; 0 = ephemeral")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with SMTPServer(args.host, args.port) as server:
        control = BackgroundHTTPServer(_control_handler(server), args.host, args.control_port)
        control.start()
        print(json.dumps({"host": server.host, "port": server.port, "control_url": control.url}))
        sys.stdout.flush()
        stop.wait()
        control.stop()


if __name__ == "__main__":
    main()
