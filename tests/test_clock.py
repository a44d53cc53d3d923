"""The suite's own clock: with TEST_CLOCK_OFFSET_DAYS=N the tests and every process they start
see the wall clock N days ahead, the monotonic clock untouched (tests/support/clock.py)."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from .production import production_env
from .support import clock

# Prints the child's shifted and real wall clocks, as seconds since the epoch, after a pause like
# a worker's imports: its clock must tick from its start, not from its first reading.
CHILD = ("import json, time; time.sleep(0.5); from tests.support.clock import real_time; "
         "print(json.dumps([time.time(), real_time()]))")


def assert_shift(shifted, real, days):
    # Within 0.2 s: processes comparing timestamps (a breaker's "open until") agree to that.
    assert abs((shifted - real) - timedelta(days=days)) < timedelta(seconds=0.2), (shifted, real, days)


def test_this_process_sees_the_offset_and_a_real_monotonic_clock():
    days = clock.offset_days()
    assert_shift(timezone.now(), clock.real_now(), days)
    assert_shift(datetime.fromtimestamp(time.time(), UTC), clock.real_now(), days)
    before = time.monotonic()
    time.sleep(0.01)  # a real timed wait still ends: the monotonic clock is not travelling
    assert 0.005 < time.monotonic() - before < 5


@pytest.mark.parametrize("environment", ["inherited", "production"])
def test_every_started_process_sees_the_same_offset(environment):
    env = production_env() if environment == "production" else None
    output = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=clock.HOOK_DIR.parents[1], capture_output=True, text=True, timeout=60,
                            check=True).stdout
    shifted, real = (datetime.fromtimestamp(value, UTC) for value in json.loads(output))
    assert_shift(shifted, real, clock.offset_days())


@pytest.mark.parametrize("raw, days", [("", 0), ("0", 0), (" 400 ", 400)])
def test_the_offset_reads_whole_days(raw, days):
    assert clock.offset_days({clock.VARIABLE: raw}) == days


@pytest.mark.parametrize("raw", ["1.5", "-3", "demain", "99999999"])
def test_a_bad_offset_stops_the_run_with_its_reason(raw):
    with pytest.raises(SystemExit, match=clock.VARIABLE):
        clock.offset_days({clock.VARIABLE: raw})
