"""Email delivery through Django's EMAIL_BACKEND (anymail's ESPs, SMTP, the outbox).

`OutboxEmailBackend` is the development default: emails are stored in the database and
read in the admin (« e-mails (boîte d'envoi locale) »). `classify()` sorts a backend's
exception into transient (retry later) or permanent (record and stop).
"""

import smtplib
import socket

from django.core.mail.backends.base import BaseEmailBackend

from .errors import PermanentDeliveryError, ProviderThrottled, TransientDeliveryError, retry_after


class OutboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        from .models import EmailOutboxMessage

        count = 0
        for message in email_messages:
            html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")
            attachments = []
            for attachment in message.attachments:
                if isinstance(attachment, tuple) or hasattr(attachment, "filename"):
                    filename, content = attachment[0], attachment[1]
                    text = content.decode() if isinstance(content, bytes) else str(content)
                    attachments.append(f"--- {filename} ---\n{text}")
                elif attachment.get_filename():  # a MIME part built by hand (the .ics, one charset)
                    text = attachment.get_payload(decode=True).decode(attachment.get_content_charset() or "utf-8")
                    attachments.append(f"--- {attachment.get_filename()} ---\n{text}")
            EmailOutboxMessage.objects.create(
                message_id=message.extra_headers.get("Message-ID", ""), from_email=message.from_email,
                to=", ".join(message.recipients()), subject=message.subject, text=message.body, html=html,
                attachments="\n".join(attachments),
            )
            count += 1
        return count


# Email errors are the same classes as SMS errors: one vocabulary for "retry" and "give up".
TransientEmailError = TransientDeliveryError
PermanentEmailError = PermanentDeliveryError


def classify(exc):
    """The DeliveryError (transient or permanent) an email exception means, or None for an
    exception we cannot read (then the record stays in doubt: at-most-once)."""
    from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused, AnymailRequestsAPIError

    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentEmailError(str(exc)[:500], code="recipients_refused")
    if isinstance(exc, AnymailRequestsAPIError):
        status = exc.status_code
        if status == 429:  # the ESP's rate limit: back-pressure, not failure
            headers = exc.response.headers if exc.response is not None else {}
            return ProviderThrottled(str(exc)[:500], code=status, status=status, retry_after=retry_after(headers))
        if status is None or status >= 500 or status == 408:
            return TransientEmailError(str(exc)[:500], code=status or "network", status=status)
        return PermanentEmailError(str(exc)[:500], code=status, status=status)
    if isinstance(exc, AnymailAPIError):
        return TransientEmailError(str(exc)[:500], code="esp")
    if isinstance(exc, AnymailError):
        # Raised while building the request, before any HTTP call (AnymailInvalidAddress,
        # AnymailUnsupportedFeature, AnymailSerializationError...): nothing left, and the same
        # message would fail the same way. Permanent, with the exception's name as the code.
        return PermanentEmailError(str(exc)[:500], code=exc.__class__.__name__.removeprefix("Anymail")[:32])
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        error_class = TransientEmailError if codes and all(400 <= c < 500 for c in codes) else PermanentEmailError
        return error_class("SMTP recipients refused", code=codes[0] if codes else "smtp")
    if isinstance(exc, smtplib.SMTPResponseException):
        error_class = TransientEmailError if 400 <= exc.smtp_code < 500 else PermanentEmailError
        return error_class(f"SMTP {exc.smtp_code}", code=exc.smtp_code)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout, TimeoutError, OSError)):
        return TransientEmailError(f"{exc.__class__.__name__}: mail server unreachable", code="network")
    return None
