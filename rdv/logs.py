"""Log privacy: no phone number or email address ever leaves the process in a log line.

The rule for code is to log ids (appointment 123, notification 456), never personal data; this
filter is the safety net behind it for what slips through anyway (an exception from a provider
quoting the recipient, a library logging its arguments). It is attached to every handler of
settings.LOGGING, so it sees each record once, before any formatter.

The URL of a request Django logs (a 404, a 400, runserver's access line) is written by the
client: anything may be in it, a name as well as a phone number. It is logged as the route
words of the project's URLs only (`masked_path`), never as received.
"""

import functools
import logging
import re
from urllib.parse import parse_qsl

REDACTED_PHONE = "[téléphone masqué]"
REDACTED_EMAIL = "[email masqué]"

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_RES = (
    # E.164 and international forms: +33612345678, +33 6 12 34 56 78, +590 690 12 34 56, 0033 6 ...
    re.compile(r"(?<![\w.])(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(?\d\)?){6,14}(?!\d)"),
    # French national numbers: 0612345678, 06 12 34 56 78, 06.12.34.56.78, 06-12-34-56-78
    re.compile(r"(?<![\w.])0[1-9](?:[ .\-]?\d{2}){4}(?!\d)"),
)

REDACTED_SEGMENT = "[…]"

# LogRecord attributes that are not data; everything else a caller passed with extra= is.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text):
    """The text with every email address and phone number replaced by a marker."""
    text = EMAIL_RE.sub(REDACTED_EMAIL, text)
    for pattern in PHONE_RES:
        text = pattern.sub(REDACTED_PHONE, text)
    return text


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(item) for item in value)
    return value


@functools.cache
def _url_words(urlconf):
    """Every literal word of the URLconf's routes ("admin", "r", "reserver", "webhooks"...)."""
    from django.conf import settings
    from django.urls import get_resolver

    words = set(filter(None, settings.STATIC_URL.split("/")))

    def walk(patterns):
        for pattern in patterns:
            route = re.sub(r"\(\?P<[^>]*>|<[^>]*>", " ", str(pattern.pattern))  # drop the parameters' names
            words.update(re.findall(r"[A-Za-z0-9_.-]+", route))
            walk(getattr(pattern, "url_patterns", []))

    walk(get_resolver(urlconf).url_patterns)
    return frozenset(words)


def _known_segment(segment, words):
    return segment in words or segment == "" or (segment.isdigit() and len(segment) <= 8)


def masked_path(full_path):
    """A request's path as fit for a log: each segment that is not a word of the project's
    routes or a short number (an id) becomes […]; of the query string only the names of the
    parameters stay. /r/<token>/ -> /r/[…]/, /?nom=Dupont -> /?nom=…"""
    from django.conf import settings

    path, _, query = str(full_path).partition("?")
    try:
        words = _url_words(settings.ROOT_URLCONF)
    except Exception:  # no URLconf to read (a broken import): keep nothing of the path
        words = frozenset()
    masked = "/".join(s if _known_segment(s, words) else REDACTED_SEGMENT for s in path.split("/"))
    if query:
        names = [name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,30}", name) else REDACTED_SEGMENT
                 for name, _ in parse_qsl(query, keep_blank_values=True)]
        masked += "?" + "&".join(f"{name}=…" for name in names) if names else "?…"
    return masked


def _mask_request(record):
    """Django's request loggers pass the request itself (django.request, django.security) or
    the raw request line (django.server): put the masked path in their place and in the
    message's arguments."""
    from django.http import HttpRequest

    request = getattr(record, "request", None)
    if isinstance(request, HttpRequest):
        masked = masked_path(request.get_full_path())
        if isinstance(record.args, tuple):
            record.args = tuple(
                masked_path(arg) if isinstance(arg, str) and arg in (request.path, request.get_full_path()) else arg
                for arg in record.args
            )
        record.request = f"{request.method} {masked}"
    elif record.name == "django.server" and isinstance(record.args, tuple) and record.args:
        # runserver: '"%s" %s %s' % ("GET /path?query HTTP/1.1", status, size)
        method, _, rest = str(record.args[0]).partition(" ")
        path, _, protocol = rest.rpartition(" ")
        line = f"{method} {masked_path(path)} {protocol}" if path else REDACTED_SEGMENT
        record.args = (line, *record.args[1:])
        record.request = line


class RedactPersonalData(logging.Filter):
    """Rewrites the record in place: message (with its args merged), exception text, stack
    and extra fields. Never drops a record."""

    _exception_formatter = logging.Formatter()

    def filter(self, record):
        _mask_request(record)
        if isinstance(record.msg, dict):
            record.msg = _redact_value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: keep its pieces, redacted
                message = f"{record.msg} {record.args}"
            record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRIBUTES:
                setattr(record, key, _redact_value(value))
        return True

