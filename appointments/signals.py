"""Domain events of appointments. Other apps (notifications) subscribe; this app knows
nothing of how, or whether, anyone is told.

Each is sent once, inside the transaction that made the change: a receiver that must act
only on a committed change uses transaction.on_commit.

appointment_confirmed(appointment, actor, agent)
appointment_changed(appointment, actor, agent, previous)   previous: {"starts_at", "place", "location_type", ...} before the change
appointment_cancelled(appointment, actor, agent)
consent_changed(contact, record)
appointments_loaded(appointments)   confirmed appointments stored in bulk (demo, benchmarks): no
                                    message about their booking, but what is planned ahead for them
"""

from django.dispatch import Signal

appointment_confirmed = Signal()
appointment_changed = Signal()
appointment_cancelled = Signal()
consent_changed = Signal()
appointments_loaded = Signal()
