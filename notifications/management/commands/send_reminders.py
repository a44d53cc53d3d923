from django.core.management.base import BaseCommand

from notifications.reminders import sweep_due_reminders


class Command(BaseCommand):
    help = "Run one reminder sweep now: exactly what the beat schedule runs every minute."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size, **options):
        count = sweep_due_reminders(batch_size=max(1, batch_size))
        self.stdout.write(f"{count} appointment(s) reminded.")
