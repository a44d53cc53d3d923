"""The suite's shared fixtures, registered for every test module by tests/conftest.py
(`pytest_plugins`): nothing to import in a test module but helpers."""

import copy
import datetime
import io
import json
import logging.config
import os

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache

from notifications import sms

from ..servers import IN_CI
from . import browser
from .brevo_standin import BrevoStandin
from .smtp_server import SMTPServer
from .twilio_standin import TwilioStandin


@pytest.fixture
def camille_client(client, demo):
    """The test client, signed in as the demo agent Camille Martin (Mairie de Lyon)."""
    from ..factories import user

    client.force_login(user("camille.martin"))
    return client


@pytest.fixture
def opening_hours_since_2026(demo):
    """The demo's opening hours start on the day it is loaded; for modules that freeze "now" at
    a fixed 2026 date (pytestmark usefixtures)."""
    from appointments.models import OpeningHours

    OpeningHours.objects.update(valid_from=datetime.date(2026, 1, 1))


@pytest.fixture
def demo(db):
    """The demo organisations, places, motifs and agents, as `seed_demo` makes them."""
    from django.core.management import call_command

    from ..factories import Demo

    call_command("seed_demo", stdout=io.StringIO())
    return Demo()


@pytest.fixture(autouse=True)
def empty_rate_limits():
    """Each test starts with no attempt counted by the public pages' rate limits."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sms_outbox():
    """The locmem SMS backend's outbox (tests.settings), empty at the start and the end."""
    sms.outbox = []
    yield sms.outbox
    sms.outbox = []


@pytest.fixture
def committed(django_capture_on_commit_callbacks, sms_outbox):
    """`with committed(): ...` runs the on-commit hooks (the task enqueuing) at the end of
    the block, as a real commit would; the tests' transaction never commits otherwise."""
    mail.outbox = []

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def eager_retries():
    """Let eager tasks retry (at once): Celery's eager mode only runs retries when it does
    not propagate the exception that triggers them."""
    from rdv.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


@pytest.fixture
def twilio_standin():
    """A Twilio REST API stand-in on 127.0.0.1; `.settings()` gives the project's TWILIO_* settings."""
    with TwilioStandin() as standin:
        yield standin


@pytest.fixture
def brevo_standin():
    """A Brevo transactional SMS API stand-in on 127.0.0.1; `.settings()` gives the BREVO_* settings."""
    with BrevoStandin() as standin:
        yield standin


@pytest.fixture
def twilio_and_brevo(live_server, settings):
    """Both SMS stand-ins, and `env(**settings)`: the environment of a worker sending through them
    (SMS_BACKENDS etc. are the test's to give), its breakers in this checkout's Redis, which this
    test process reads too (settings.CACHES)."""
    from ..servers import REDIS_URL
    from .processes import flush_redis, process_env

    with TwilioStandin() as twilio, BrevoStandin() as brevo:
        settings.PUBLIC_BASE_URL = live_server.url
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

        def env(**overrides):
            return process_env(**{
                **twilio.settings(from_="RDV"), **brevo.settings(), "PUBLIC_BASE_URL": live_server.url,
                "CACHE_URL": REDIS_URL, "NOTIFICATIONS_RETRY_BACKOFF": 1,
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", **overrides,
            })

        flush_redis()
        yield twilio, brevo, env


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1; `.settings()` gives the project's EMAIL_* settings."""
    with SMTPServer() as server:
        yield server


@pytest.fixture
def json_log():
    """Log through the real settings.LOGGING (JSON format, as in production), captured."""
    stream = io.StringIO()
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"].update(formatter="json", stream=stream)
    logging.config.dictConfig(config)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.config.dictConfig(settings.LOGGING)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright (one browser per test module; each test opens its
    own context). Installed with apt-get when missing; a failure in CI, a skip elsewhere."""
    problem = browser.install_chromium()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        print(f"\nSkipping browser tests: {problem}")
        pytest.skip(problem)
    # Playwright's sync API runs an event loop in this thread; the test's own database
    # calls are still synchronous. Allowed while the browser runs only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def phone(chromium):
    """`phone(**context_options)`: a new page on a 390 x 844 touch screen, in French."""

    def new_page(**options):
        context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                       locale="fr-FR", **options)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    return new_page
