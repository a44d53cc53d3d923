"""Marks about what a citizen is (not) told, for the agents' screens.

appointments/ knows nothing of SMS, email or delivery statuses: notifications/ registers the
function that answers (in its AppConfig.ready), and this module only asks it. Without it
(notifications/ not installed), no mark is shown.
"""

from dataclasses import dataclass

FAILED = "failed"
NOTHING = "nothing"
UNREACHABLE = "unreachable"  # a contact detail reported not to work: the agent checks it with the citizen


@dataclass(frozen=True)
class Mark:
    kind: str  # FAILED, NOTHING or UNREACHABLE
    label: str  # short, for the agenda cell
    detail: str  # a sentence, for a title and screen readers


_provider = None


def register(provider):
    """`provider(appointments) -> {appointment_id: [Mark, ...]}`; it may read each
    appointment's prefetched contacts and must run a constant number of queries."""
    global _provider
    _provider = provider


def marks_for(appointments):
    appointments = list(appointments)
    if _provider is None or not appointments:
        return {}
    return _provider(appointments)
