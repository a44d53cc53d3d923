"""The suite's clock: `TEST_CLOCK_OFFSET_DAYS=N` moves the wall clock N days ahead for the test
process and for every process it starts, so that `make test` proves the suite holds on any date.

The shift comes from time-machine (`travel(now + N days, tick=True)`): `time.time()`,
`datetime.now()` and friends move, `time.monotonic()` stays real, so timed waits keep working
(libfaketime does not: it hangs Python's `threading.Event.wait`). Child processes get the same
shift from `tests/clock_offset/sitecustomize.py`, which this module puts first on PYTHONPATH.
"""

import datetime
import time
import os
from pathlib import Path

import time_machine

VARIABLE = "TEST_CLOCK_OFFSET_DAYS"
HOOK_DIR = Path(__file__).resolve().parents[1] / "clock_offset"


def offset_days(environ=os.environ):
    """The offset asked for, in days (0 when unset); a value that is not a whole number of days
    from 0 to 36,500 stops the run with the reason, rather than testing on the real date."""
    raw = environ.get(VARIABLE, "").strip() or "0"
    try:
        days = int(raw)
    except ValueError:
        raise SystemExit(f"{VARIABLE} must be a whole number of days, not {raw!r}") from None
    if not 0 <= days <= 36_500:
        raise SystemExit(f"{VARIABLE} must be between 0 and 36500 days, not {days}")
    return days


def install():
    """Shift this process's clock (unless its sitecustomize already did) and make every child
    process shift its own at start-up. Returns the offset in days."""
    days = offset_days()
    if days:
        if not time_machine.escape_hatch.is_travelling():
            real_now = datetime.datetime.now(datetime.UTC)
            time_machine.travel(real_now + datetime.timedelta(days=days), tick=True).start()
            time.time()  # it ticks from its first reading (see tests/clock_offset/sitecustomize.py)
        paths = [str(HOOK_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return days


def real_now():
    """The machine's real time, whatever the offset (to prove the offset)."""
    return datetime.datetime.fromtimestamp(real_time(), datetime.UTC)


def real_time():
    """time.time() as the machine has it (time-machine's escape hatch works only while travelling)."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()
