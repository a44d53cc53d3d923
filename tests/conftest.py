import pytest
from django.conf import settings

from .servers import IN_CI, redis_problem
from .support import clock

# Before any test or fixture reads the time: TEST_CLOCK_OFFSET_DAYS moves every clock ahead.
CLOCK_OFFSET_DAYS = clock.install()

# The shared fixtures, for every test module.
pytest_plugins = ["tests.support.fixtures"]


def pytest_report_header(config):
    problem = settings.POSTGRES_PROBLEM
    return [
        f"database: {'PostgreSQL' if problem is None else 'SQLite (' + problem + ')'}",
        f"clock: {CLOCK_OFFSET_DAYS} days ahead of the real date ({clock.VARIABLE})",
    ]


def pytest_collection_modifyitems(config, items):
    """Skip, with the reason, tests whose server is unreachable — never in CI, where they
    run and fail (and an unreachable PostgreSQL stops the session in tests/settings.py)."""
    if IN_CI:
        return
    problems = {"postgres": settings.POSTGRES_PROBLEM}
    if any(item.get_closest_marker("redis") for item in items):
        problems["redis"] = redis_problem()
    for item in items:
        for marker, problem in problems.items():
            if problem and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=problem))
