"""Test-only start-up hook: with TEST_CLOCK_OFFSET_DAYS=N, this Python process sees the wall
clock N days ahead (time-machine, ticking; monotonic clocks stay real).

The test harness (tests/support/clock.py) puts this folder first on PYTHONPATH, so that every
process the tests start (Celery worker and beat, gunicorn, the stand-ins, `manage.py` runs)
imports it at start-up and lives on the same shifted calendar as the tests themselves. It is
never on the path of a deployed process.
"""

import os

if os.environ.get("TEST_CLOCK_OFFSET_DAYS", "0").strip() not in ("", "0"):
    import datetime
    import time

    import time_machine

    _days = int(os.environ["TEST_CLOCK_OFFSET_DAYS"])
    _now = datetime.datetime.now(datetime.timezone.utc)
    time_machine.travel(_now + datetime.timedelta(days=_days), tick=True).start()
    # A ticking travel starts ticking at its first reading, not when it starts: read it now, or
    # this process's clock would lag the others by however long its imports take.
    time.time()
