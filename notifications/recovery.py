"""Finding records whose delivery was interrupted, and settling them.

A periodic task (beat, every RECOVERY_SECONDS, on the "periodic" queue that no batch delays)
calls recover_stalled():

- dead workers first (liveness.py): the records a dead worker process was given and had not
  claimed are enqueued again at once; those it had claimed were caught mid-send and are
  flagged 'uncertain' (see delivery.py for why they are never sent again by themselves; the
  provider's status report settles most of them within seconds);
- then by age, whatever holds them: records still 'pending' long after their last change lost
  their task (broker down at commit time, a purge) and are enqueued again — nothing was sent
  for them, and claiming makes a double enqueue harmless; records still 'sending' long after
  their claim are flagged 'uncertain'.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from . import liveness
from .delivery import finish
from .dispatch import enqueue
from .models import DeliveryLease, Notification, Status

log = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=15)  # longer than the longest retry back-off (10 min)


IN_DOUBT = "Envoi interrompu : le message est peut-être parti. À vérifier avant de renvoyer."


def recover_stalled(now=None):
    """Settle the records of dead workers, then those stalled by age. Returns the counts."""
    requeued, flagged = recover_dead_workers()
    lost, stuck = recover_by_age(now)
    return {"dead_requeued": requeued, "dead_flagged": flagged, "requeued": lost, "flagged": stuck}


def recover_dead_workers():
    """Enqueue again what dead worker processes were given and had not claimed; flag what they
    had claimed. Returns (re-enqueued, flagged)."""
    leases = list(DeliveryLease.objects.all())
    workers = {lease.worker for lease in leases} | set(
        Notification.objects.filter(status=Status.SENDING).exclude(claimed_by="")
        .values_list("claimed_by", flat=True).distinct())
    dead = {worker for worker in workers if not liveness.is_alive(worker)}
    if not dead:
        return 0, 0
    held = {pk for lease in leases if lease.worker in dead for pk in lease.ids}
    lost = list(Notification.objects.filter(pk__in=held, status=Status.PENDING).values_list("pk", "channel"))
    claimed = list(Notification.objects.filter(status=Status.SENDING, claimed_by__in=dead).values_list("pk", "channel", "claimed_by"))
    unsent = {pk for worker in dead for pk in liveness.unsent_among(worker, [c[0] for c in claimed if c[2] == worker])}
    stuck = [pk for pk, _, _ in claimed if pk not in unsent]
    for pk, channel, _ in claimed:
        if pk in unsent:  # never requested: nothing went out, it goes again
            if finish(pk, Status.PENDING, only_from=(Status.SENDING,), raw_event="worker_died_unsent"):
                lost.append((pk, channel))
        else:
            finish(pk, Status.UNCERTAIN, only_from=(Status.SENDING,), raw_event="worker_died", error_message=IN_DOUBT)
    enqueue(lost)
    DeliveryLease.objects.filter(worker__in=dead).delete()
    log.warning("%d worker process(es) died: %d records enqueued again, %d in doubt", len(dead), len(lost), len(stuck))
    return len(lost), len(stuck)


def recover_by_age(now=None):
    """Re-enqueue records whose task was lost; flag records stuck mid-send for an agent.
    Returns (re-enqueued, flagged)."""
    now = now or timezone.now()
    cutoff = now - STALLED_AFTER
    # Unordered: the model's default ordering would sort every pending record to take 10,000.
    lost = list(Notification.objects.filter(status=Status.PENDING, updated_at__lt=cutoff).order_by()
                .values_list("pk", "channel")[:10_000])
    if lost:
        Notification.objects.filter(pk__in=[pk for pk, _ in lost], status=Status.PENDING).update(updated_at=now)
        enqueue(lost)
    stuck = list(Notification.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff).values_list("pk", flat=True))
    for pk in stuck:
        finish(pk, Status.UNCERTAIN, only_from=(Status.SENDING,), raw_event="stalled", error_message=IN_DOUBT)
    return len(lost), len(stuck)
