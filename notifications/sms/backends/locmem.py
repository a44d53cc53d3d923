"""For tests: messages are appended to `notifications.sms.outbox` (like mail.outbox)."""

import itertools

from notifications import sms

from .base import BaseSmsBackend, SmsResult

_ids = itertools.count(1)


class SmsBackend(BaseSmsBackend):
    name = "locmem"

    def send_one(self, message):
        if not hasattr(sms, "outbox"):
            sms.outbox = []
        sms.outbox.append(message)
        return SmsResult(message=message, message_id=f"locmem-{next(_ids)}")
