"""The development default: SMS stored in the database, readable in the admin
(« SMS (boîte d'envoi locale) »)."""

from notifications.gsm import segment_count

from .base import BaseSmsBackend, SmsResult


class SmsBackend(BaseSmsBackend):
    name = "outbox"

    def send_one(self, message):
        from notifications.models import SmsOutboxMessage

        stored = SmsOutboxMessage.objects.create(
            sender=message.sender or "",
            to=message.to, body=message.body, segments=segment_count(message.body),
        )
        return SmsResult(message=message, message_id=f"outbox-{stored.pk}")
