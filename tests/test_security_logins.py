"""Agents' logins (issue 10, item 4): lockout after repeated failures per account and per
address (django-axes, the address taken where the rest of the app takes it), strong
passwords, no demo logins outside DEBUG unless asked for (and then check --deploy says so),
sessions that end, and admin filters that show only the agent's own organisations."""

import io
import re
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.html import escape

from appointments.demo import DEMO_PASSWORD
from appointments.models import Agent, Organisation, Place, Service

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PASSWORD = "Un-vrai-mot-de-passe-2026"
LOGIN = "/admin/login/"


@pytest.fixture
def agents(demo):
    """camille.martin and julien.bernard with a real password (the demo fixture gives none)."""
    users = {}
    for username in ("camille.martin", "julien.bernard", "marie.lancelot"):
        user = get_user_model().objects.get(username=username)
        user.set_password(PASSWORD)
        user.save()
        users[username] = user
    return users


def attempt(username, password, address="203.0.113.7", **headers):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers)
    return response, client


def logged_in(response, client):
    return response.status_code == 302 and client.get("/admin/").status_code == 200


def test_an_account_is_locked_after_five_failures_from_anywhere(agents):
    for n in range(4):
        response, _ = attempt("camille.martin", f"guess-{n}", address=f"198.51.100.{n + 1}")
        assert response.status_code == 200  # the login form again, with its error
    assert attempt("camille.martin", "guess-4", address="198.51.100.5")[0].status_code == 429  # the fifth locks
    response, client = attempt("camille.martin", PASSWORD, address="198.51.100.99")
    assert response.status_code == 429 and not logged_in(response, client)
    assert "Connexion bloquée" in response.content.decode()
    # Another account, from the same addresses, is not affected.
    assert logged_in(*attempt("julien.bernard", PASSWORD, address="198.51.100.1"))


def test_an_address_is_locked_after_five_failures_on_any_accounts(agents):
    for n in range(5):
        attempt(f"someone-{n}", "guess")
    response, client = attempt("julien.bernard", PASSWORD)
    assert response.status_code == 429 and not logged_in(response, client)
    assert logged_in(*attempt("julien.bernard", PASSWORD, address="203.0.113.8"))


def test_spoofed_forwarding_headers_do_not_escape_the_address_count(agents):
    for n in range(5):
        attempt(f"someone-{n}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", HTTP_X_REAL_IP=f"10.1.0.{n}")
    response, _ = attempt("julien.bernard", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9", HTTP_X_REAL_IP="10.9.9.9")
    assert response.status_code == 429


@override_settings(CLIENT_IP_HEADER="HTTP_X_REAL_IP", TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_the_proxy_axes_counts_the_address_the_proxy_gives(agents):
    # The proxy overwrites X-Real-IP: two clients behind it are two addresses, as for the
    # public pages' rate limits (appointments.ratelimit.client_address).
    for n in range(5):
        attempt(f"someone-{n}", "guess", address="127.0.0.1", HTTP_X_REAL_IP="192.0.2.1")
    assert attempt("julien.bernard", PASSWORD, address="127.0.0.1", HTTP_X_REAL_IP="192.0.2.1")[0].status_code == 429
    assert logged_in(*attempt("julien.bernard", PASSWORD, address="127.0.0.1", HTTP_X_REAL_IP="192.0.2.2"))


def test_twenty_wrong_passwords_then_the_right_one_is_refused_then_the_lock_expires(agents):
    start = timezone.now()
    with time_machine.travel(start, tick=True):
        for n in range(20):
            attempt("marie.lancelot", f"guess-{n}", address=f"192.0.2.{n + 1}")
        response, client = attempt("marie.lancelot", PASSWORD, address="192.0.2.200")
        assert response.status_code == 429 and not logged_in(response, client)
    with time_machine.travel(start + timedelta(minutes=31), tick=True):
        assert logged_in(*attempt("marie.lancelot", PASSWORD, address="192.0.2.200"))


@pytest.mark.parametrize("password", ["court-2026", "123456789012345", "camille.martin", "password1234"])
def test_weak_passwords_are_refused(demo, password):
    user = get_user_model().objects.get(username="camille.martin")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_uncommon_password_is_accepted(demo):
    validate_password(PASSWORD, get_user_model().objects.get(username="camille.martin"))


# --- demo logins -----------------------------------------------------------------------------

def demo_login_errors():
    return [e.id for e in checks.run_checks(include_deployment_checks=True) if e.id == "appointments.E001"]


@override_settings(DEBUG=False)
def test_seed_demo_makes_no_demo_login_outside_debug(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    User = get_user_model()
    for username in ("admin", "camille.martin", "marie.lancelot"):
        assert not User.objects.get(username=username).has_usable_password()
    assert DEMO_PASSWORD not in out.getvalue() and "--demo-logins" in out.getvalue()
    assert attempt("camille.martin", DEMO_PASSWORD)[0].status_code == 200  # refused: the form again
    assert demo_login_errors() == []


@override_settings(DEBUG=False)
def test_demo_logins_outside_debug_need_the_flag_and_check_deploy_reports_them(db):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", "--demo-logins", stdout=io.StringIO())
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="camille.martin").check_password(DEMO_PASSWORD)
    assert logged_in(*attempt("camille.martin", DEMO_PASSWORD))
    assert demo_login_errors() == ["appointments.E001"]
    User.objects.filter(username__in=["admin", "camille.martin", "julien.bernard", "sophie.lefebvre",
                                      "marie.lancelot"]).update(is_active=False)
    remaining = [u.username for u in User.objects.filter(is_active=True, is_staff=True) if u.check_password(DEMO_PASSWORD)]
    User.objects.filter(username__in=remaining).update(is_active=False)
    assert demo_login_errors() == []


@override_settings(DEBUG=True)
def test_in_development_seed_demo_prints_the_demo_logins(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert DEMO_PASSWORD in out.getvalue()
    assert get_user_model().objects.get(username="admin").check_password(DEMO_PASSWORD)


# --- sessions ----------------------------------------------------------------------------------

def test_an_admin_session_ends_after_a_working_day(agents):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response, client = attempt("camille.martin", PASSWORD)  # a real login, through the form
        assert logged_in(response, client)
    with time_machine.travel(start + timedelta(hours=8), tick=False):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(start + timedelta(hours=9, minutes=1), tick=False):
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- admin list filters --------------------------------------------------------------------

def filter_choices(html):
    return set(re.findall(r'<a href="\?[^"]*__id__exact=\d+[^"]*"[^>]*>([^<]+)</a>', html))


@pytest.mark.parametrize("url, has_filters", [
    ("/admin/appointments/appointment/", True), ("/admin/appointments/openinghours/", True),
    ("/admin/appointments/motif/", True),
    # One organisation: Django hides a filter with a single choice; nothing else may show.
    ("/admin/appointments/place/", False), ("/admin/appointments/service/", False),
])
def test_admin_list_filters_show_only_the_agents_own_organisations(demo, url, has_filters):
    camille = demo.camille
    own = set(camille.organisations.values_list("pk", flat=True))
    others = (
        {o.name for o in Organisation.objects.exclude(pk__in=own)}
        | {p.name for p in Place.objects.exclude(organisation__in=own)}
        | {s.name for s in Service.objects.exclude(organisation__in=own)}
        | {str(a) for a in Agent.objects.exclude(organisations__in=own)}
    )
    client = Client()
    client.force_login(camille.user)
    html = client.get(url).content.decode()
    assert ('id="changelist-filter"' in html) is has_filters
    shown = {unescape(re.sub(r"\s+", " ", choice).strip()) for choice in filter_choices(html)}
    assert bool(shown) is has_filters
    assert not others & shown, others & shown
    for name in others:
        assert escape(name) not in html, name
