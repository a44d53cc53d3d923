"""Log privacy: no phone number or email address ever leaves the process in a log line.

The rule for code is to log ids (appointment 123, notification 456), never personal data; this
filter is the safety net behind it for what slips through anyway (an exception from a provider
quoting the recipient, a library logging its arguments). It is attached to every handler of
settings.LOGGING, so it sees each record once, before any formatter.
"""

import logging
import re

REDACTED_PHONE = "[téléphone masqué]"
REDACTED_EMAIL = "[email masqué]"

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_RES = (
    # E.164 and international forms: +33612345678, +33 6 12 34 56 78, +590 690 12 34 56, 0033 6 ...
    re.compile(r"(?<![\w.])(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(?\d\)?){6,14}(?!\d)"),
    # French national numbers: 0612345678, 06 12 34 56 78, 06.12.34.56.78, 06-12-34-56-78
    re.compile(r"(?<![\w.])0[1-9](?:[ .\-]?\d{2}){4}(?!\d)"),
)

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


class RedactPersonalData(logging.Filter):
    """Rewrites the record in place: message (with its args merged), exception text, stack
    and extra fields. Never drops a record."""

    _exception_formatter = logging.Formatter()

    def filter(self, record):
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

