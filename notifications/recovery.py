"""Finding records whose delivery was interrupted, and settling them.

A periodic task (beat, its own queue) calls recover_stalled(): records still 'pending' long
after their last change lost their task (broker down at commit time, a purge) and are simply
enqueued again — nothing was sent for them, and claiming makes a double enqueue harmless;
records still 'sending' long after their claim were caught mid-send and are flagged
'uncertain' for an agent (see delivery.py for why they are never sent again by themselves).
"""

from datetime import timedelta

from django.utils import timezone

from .delivery import finish
from .dispatch import enqueue
from .models import Notification, Status

STALLED_AFTER = timedelta(minutes=15)  # longer than the longest retry back-off (10 min)


def recover_stalled(now=None):
    """Re-enqueue records whose task was lost; flag records stuck mid-send for an agent.
    Returns (re-enqueued, flagged)."""
    now = now or timezone.now()
    cutoff = now - STALLED_AFTER
    lost = list(Notification.objects.filter(status=Status.PENDING, updated_at__lt=cutoff).values_list("pk", "channel")[:10_000])
    if lost:
        Notification.objects.filter(pk__in=[pk for pk, _ in lost], status=Status.PENDING).update(updated_at=now)
        enqueue(lost)
    stuck = list(Notification.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff).values_list("pk", flat=True))
    for pk in stuck:
        finish(pk, Status.UNCERTAIN, only_from=(Status.SENDING,), raw_event="stalled",
               error_message="Envoi interrompu : le message est peut-être parti. À vérifier avant de renvoyer.")
    return len(lost), len(stuck)
