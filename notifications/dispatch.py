"""Handing records to the task queue, by task name.

This module knows the queue's shape (which task takes which channel, how many records ride in
one message) and nothing about who is told what (planning.py) or how a message is sent
(delivery.py): tasks are named, not imported, so planning -> dispatch never leads back to
planning through tasks -> delivery.
"""

from celery import current_app

from appointments.models import Channel

# Up to this many records per channel get a task each (a booking's messages, independent
# retries); more go in batch tasks.
SINGLE_TASKS_UP_TO = 10
# Records per batch task: a sweep of 100,000 reminders publishes 1,000 messages, not 100,000.
BATCH_SIZE = 100

SINGLE_TASK = {Channel.SMS: "notifications.send_sms", Channel.EMAIL: "notifications.send_email"}
BATCH_TASK = {Channel.SMS: "notifications.send_sms_batch", Channel.EMAIL: "notifications.send_email_batch"}


def task(name):
    """The registered task called `name` (its options, its eager mode in tests).

    A worker imports the tasks modules when it starts; a web process, which never imports
    notifications.tasks itself, has them imported here on its first enqueue, as the worker
    would (autodiscovery and CELERY_IMPORTS)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def enqueue(pairs):
    """Send the tasks for these (notification id, channel) pairs. A few (one booking's) get
    one task each; more (a reminder sweep) go in batches of BATCH_SIZE per channel. Safe to
    call twice for one record: only one task can claim it."""
    if not pairs:
        return
    by_channel = {Channel.SMS: [], Channel.EMAIL: []}
    for pk, channel in pairs:
        by_channel[channel].append(pk)
    # One producer (one broker connection) for all of them, not one per message.
    with current_app.producer_or_acquire() as producer:
        for channel, ids in by_channel.items():
            if len(ids) <= SINGLE_TASKS_UP_TO:
                for pk in ids:
                    task(SINGLE_TASK[channel]).apply_async((pk,), producer=producer)
            else:
                for start in range(0, len(ids), BATCH_SIZE):
                    task(BATCH_TASK[channel]).apply_async((ids[start:start + BATCH_SIZE],), producer=producer)
