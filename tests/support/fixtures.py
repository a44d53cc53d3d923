"""pytest fixtures for the in-process stand-ins (imported by tests/conftest.py)."""

import pytest

from .smtp_server import SMTPServer
from .twilio_standin import TwilioStandin


@pytest.fixture
def twilio_standin():
    """A Twilio REST API stand-in on 127.0.0.1; `.settings()` gives the project's TWILIO_* settings."""
    with TwilioStandin() as standin:
        yield standin


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1; `.settings()` gives the project's EMAIL_* settings."""
    with SMTPServer() as server:
        yield server
