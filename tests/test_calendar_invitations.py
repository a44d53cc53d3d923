"""Calendar invitations calendars accept (RFC 5545/5546), read by two independent parsers:
citizens get PUBLISH then CANCEL (same UID, higher SEQUENCE), agents REQUEST naming them as
ATTENDEE; one charset; right instants in both occurrences of the repeated autumn hour."""

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
import vobject
from django.core import mail
from icalendar import Calendar

from appointments import services
from appointments.models import NotificationLevel

PARIS = ZoneInfo("Europe/Paris")
UTC = dt_timezone.utc
# Paris clocks go back on Sunday 25 October 2026 at 3h00 summer time: 2h00-2h59 happens twice.
pytestmark = pytest.mark.time_machine(datetime(2026, 10, 1, 9, 0, tzinfo=PARIS), tick=True)


def parts(email):
    [part] = email.attachments
    assert part.get_filename() == "rendez-vous.ics"
    return part


def both_parsers(part):
    """(icalendar VEVENT, vobject VEVENT) for one .ics part."""
    raw = part.get_payload(decode=True).decode("utf-8")
    event = next(iter(Calendar.from_ical(raw).walk("VEVENT")))
    other = vobject.readOne(raw)
    return Calendar.from_ical(raw), event, other


def emails_to(address):
    return [email for email in mail.outbox if email.to == [address]]


def test_citizens_get_publish_then_cancel_with_one_uid_and_growing_sequence(demo, committed):
    with committed():
        appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 16, 11, 0, tzinfo=PARIS))
    with committed():
        services.cancel(appointment, actor="agent", agent=demo.camille)
    seen = []
    for email in emails_to("lea.dupont@exemple.fr"):
        part = parts(email)
        calendar, event, other = both_parsers(part)
        method = str(calendar["METHOD"])
        assert other.method.value == method
        assert part["Content-Type"] == f"text/calendar; method={method}; charset=utf-8"
        assert part["Content-Type"].count("charset") == 1
        assert other.vevent.uid.value == str(event["UID"])
        assert int(other.vevent.sequence.value) == int(event["SEQUENCE"])
        assert other.vevent.dtstart.value == event.decoded("DTSTART")
        seen.append((method, str(event["UID"]), int(event["SEQUENCE"]), other.vevent.dtstart.value,
                     other.vevent.status.value, hasattr(other.vevent, "attendee")))
    assert [s[0] for s in seen] == ["PUBLISH", "PUBLISH", "CANCEL"]
    assert len({s[1] for s in seen}) == 1
    assert [s[2] for s in seen] == [0, 1, 2] and seen[2][2] > seen[1][2]
    assert seen[1][3] == datetime(2026, 12, 16, 10, 0, tzinfo=UTC)
    assert [s[4] for s in seen] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    # PUBLISH invites nobody to answer; CANCEL names the citizen it is sent to (RFC 5546).
    assert [s[5] for s in seen] == [False, False, True]
    cancel = vobject.readOne(parts(emails_to("lea.dupont@exemple.fr")[-1]).get_payload(decode=True).decode())
    assert cancel.vevent.attendee.value == "mailto:lea.dupont@exemple.fr"


def test_agents_get_a_request_naming_them_as_attendee_then_a_cancel(demo, committed):
    demo.julien.notification_level = NotificationLevel.ALL
    demo.julien.save()
    with committed():
        appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS), agents=[demo.julien])
    with committed():
        services.cancel(appointment, actor="agent", agent=demo.camille)
    methods = []
    for email in emails_to("julien.bernard@demo.rdv.fr"):
        calendar, event, other = both_parsers(parts(email))
        methods.append(str(calendar["METHOD"]))
        assert other.vevent.attendee.value == "mailto:julien.bernard@demo.rdv.fr"
        assert other.vevent.attendee.params["CN"] == ["Julien Bernard"]
        assert str(event["ATTENDEE"]) == "mailto:julien.bernard@demo.rdv.fr"
        assert other.vevent.organizer.value.startswith("mailto:")
    assert methods == ["REQUEST", "CANCEL"]


@pytest.mark.parametrize("fold, utc_start", [(0, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
                                             (1, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))])
def test_both_occurrences_of_the_repeated_autumn_hour_are_right(demo, committed, fold, utc_start):
    starts_at = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=fold)
    assert starts_at.astimezone(UTC) == utc_start  # the oracle: zoneinfo's own reading of fold
    with committed():
        demo.book(starts_at=starts_at)
    for email in mail.outbox:
        _, event, other = both_parsers(parts(email))
        for start, end in ((event.decoded("DTSTART"), event.decoded("DTEND")),
                           (other.vevent.dtstart.value, other.vevent.dtend.value)):
            assert start == utc_start
            assert end == utc_start + timedelta(minutes=demo.cni.default_duration_minutes)
            assert end > start
