"""For development: messages are written to standard output."""

import sys
import threading
import uuid

from notifications.gsm import segment_count

from .base import BaseSmsBackend, SmsResult


class SmsBackend(BaseSmsBackend):
    name = "console"
    _lock = threading.Lock()

    def __init__(self, stream=None, **options):
        super().__init__(**options)
        self.stream = stream or sys.stdout

    def send_one(self, message):
        with self._lock:
            self.stream.write(
                f"SMS to {message.to} from {message.sender or '-'} ({segment_count(message.body)} segment(s)):\n{message.body}\n{'-' * 40}\n"
            )
            self.stream.flush()
        return SmsResult(message=message, message_id=f"console-{uuid.uuid4().hex}")
