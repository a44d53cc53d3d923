"""The notifications' side of appointments' domain events (connected in apps.ready)."""

from django.dispatch import receiver
from django.utils import timezone

from appointments import signals
from appointments.models import BookedBy, ConsentSource

from .content import describe_previous
from .limits import withhold_over_public_budget
from .models import Event, Notification, Status, StatusEvent
from .planning import notifications_for, save_and_enqueue
from .recipients import Action
from .reminders import cancel_reminders, plan_in_bulk, plan_reminders
from .suppression import contact_address, is_suppressed, suppress


def _plan(appointment, event, *, actor, agent, previous=None):
    rows = notifications_for(appointment, event, action=Action(actor, agent.pk if agent else None), previous=previous)
    if actor == BookedBy.CITIZEN:
        # An unauthenticated action (public booking, cancelling from the link page): its SMS
        # draw on the hour's public budget, whoever triggers them.
        withhold_over_public_budget(rows)
    save_and_enqueue(rows)


@receiver(signals.appointment_confirmed, dispatch_uid="notifications.confirmed")
def on_confirmed(sender, appointment, actor, agent=None, **kwargs):
    _plan(appointment, Event.CONFIRMATION, actor=actor, agent=agent)
    plan_reminders(appointment)


@receiver(signals.appointment_changed, dispatch_uid="notifications.changed")
def on_changed(sender, appointment, actor, agent=None, previous=None, **kwargs):
    _plan(appointment, Event.CHANGE, actor=actor, agent=agent, previous=describe_previous(appointment, previous or {}))
    plan_reminders(appointment)  # every touch re-planned for the new version, the old ones cancelled


@receiver(signals.appointment_cancelled, dispatch_uid="notifications.cancelled")
def on_cancelled(sender, appointment, actor, agent=None, **kwargs):
    _plan(appointment, Event.CANCELLATION, actor=actor, agent=agent)
    cancel_reminders(appointment)


@receiver(signals.appointments_loaded, dispatch_uid="notifications.loaded")
def on_loaded(sender, appointments, **kwargs):
    plan_in_bulk(appointments)


@receiver(signals.consent_changed, dispatch_uid="notifications.consent")
def on_consent_changed(sender, contact, record, **kwargs):
    """Keep the suppression list and the contacts' consent in step, and cancel what waits.

    - A grant for a number or address on the suppression list is withdrawn at once: giving
      the same number again (each booking creates a new contact) is not a way back in.
    - A withdrawal puts the number or address on the list (so other contacts holding it
      stop too), and cancels what is still waiting on that channel (a message already being
      handed to the provider can't be called back).
    """
    address = contact_address(contact, record.channel)
    if record.granted:
        if is_suppressed(record.channel, address):
            contact.record_consent(record.channel, False, source=ConsentSource.SUPPRESSION_LIST,
                                   text_version=record.text_version)
        return
    if address and not is_suppressed(record.channel, address):
        suppress(record.channel, address, source=record.source)
    waiting = Notification.objects.filter(contact=contact, channel=record.channel, status=Status.PENDING)
    ids = list(waiting.values_list("pk", flat=True))
    if not ids:
        return
    Notification.objects.filter(pk__in=ids, status=Status.PENDING).update(
        status=Status.CANCELLED, error_message="Consentement retiré.", updated_at=timezone.now()
    )
    StatusEvent.objects.bulk_create([
        StatusEvent(notification_id=pk, status=Status.CANCELLED, raw_event="consent_withdrawn") for pk in ids
    ])

