"""A provider per organisation or territory: which route an organisation's SMS take
(organisation > territory > SMS_BACKENDS), the setting checked at start-up, the admin's
override, and the router and batches following routes while breakers stay per provider.
Real processes at the end: a worker, the Twilio and Brevo stand-ins."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import override_settings

from appointments.models import Motif
from notifications import tasks
from notifications.checks import check_sms_backend
from notifications.errors import ProviderUnavailable, TransientDeliveryError
from notifications.models import Notification, OrganisationSmsRoute, Status
from notifications.sms import SmsMessage
from notifications.sms.breaker import Breaker
from notifications.sms.router import SmsRouter
from notifications.sms.routes import Route, parse_territory_routes, resolve

from .factories import user
from .notifying import OtherScriptedSmsBackend, ScriptedSmsBackend
from .support.processes import celery_worker, poll, tasks_go_to_broker

SCRIPTED = "tests.notifying.ScriptedSmsBackend"
OTHER = "tests.notifying.OtherScriptedSmsBackend"


@pytest.fixture
def providers(settings):
    """Twilio and Brevo configured (no request is made), Twilio first by default."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM = "AC" + "0" * 32, "token", "RDV"
    settings.BREVO_API_KEY, settings.BREVO_WEBHOOK_SECRET = "key", "brevo:secret"
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    settings.SMS_BACKENDS_BY_TERRITORY = "America/Guadeloupe=brevo ; America/Cayenne = brevo, twilio"
    return settings


def route(organisation):
    found = resolve(organisation)
    return found.names, found.source


# --- The setting ----------------------------------------------------------------------------------

def test_the_territory_setting_is_read_as_ordered_routes_from_text_or_a_dict():
    assert parse_territory_routes("America/Guadeloupe=brevo,twilio;Indian/Reunion=brevo;") == {
        "America/Guadeloupe": ("brevo", "twilio"), "Indian/Reunion": ("brevo",)}
    assert parse_territory_routes({"Indian/Mayotte": ["twilio", "brevo"]}) == {"Indian/Mayotte": ("twilio", "brevo")}
    assert parse_territory_routes("") == {}


@pytest.mark.parametrize("text, says", [
    ("America/Guadeloupe:brevo", "is not territory=provider,provider"),
    ("America/Guadeloupe=", "needs a territory and at least one provider"),
    ("=brevo", "needs a territory and at least one provider"),
    ("Indian/Reunion=brevo;Indian/Reunion=twilio", "listed twice"),
    ("Indian/Reunion=brevo,brevo", "names a provider twice"),
])
def test_a_malformed_territory_setting_is_refused_naming_the_item(text, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        parse_territory_routes(text)


def test_the_system_check_refuses_an_unknown_territory_or_provider(providers):
    providers.SMS_BACKENDS_BY_TERRITORY = "America/Guadaloupe=brevo;Indian/Reunion=sfr,twilio"
    errors = check_sms_backend(None)
    assert [error.id for error in errors] == ["notifications.E012", "notifications.E012"]
    assert "'America/Guadaloupe' is not a territory" in errors[0].msg and "America/Guadeloupe" in errors[0].hint
    assert "Indian/Reunion names 'sfr', which is not an SMS provider" in errors[1].msg
    providers.SMS_BACKENDS_BY_TERRITORY = "Indian/Reunion=brevo;"
    assert check_sms_backend(None) == []
    providers.SMS_BACKENDS_BY_TERRITORY = "Indian/Reunion=twilio;America/Guadeloupe"
    assert "is not territory=provider" in check_sms_backend(None)[0].msg


def test_a_territory_provider_missing_its_settings_is_refused_at_start_up(providers):
    # SMS_BACKENDS names twilio alone: brevo is checked because a territory names it.
    providers.SMS_BACKENDS, providers.BREVO_API_KEY = ["twilio"], ""
    providers.SMS_BACKENDS_BY_TERRITORY = "Indian/Reunion=brevo"
    assert [error.id for error in check_sms_backend(None)] == ["notifications.E009"]


# --- Which route ----------------------------------------------------------------------------------

def test_organisation_before_territory_before_sms_backends(demo, providers):
    # Mainland: SMS_BACKENDS. Guadeloupe: its zone is the organisation's. Guyane: its zone is on
    # its place only (appointments/zones.py), and routes it all the same.
    assert route(demo.lyon) == (["twilio", "brevo"], Route.DEFAULT)
    assert route(demo.guadeloupe) == (["brevo"], Route.TERRITORY)
    assert route(demo.guyane) == (["brevo", "twilio"], Route.TERRITORY)
    assert resolve(demo.guyane).territory == "America/Cayenne"
    OrganisationSmsRoute.objects.create(organisation=demo.guadeloupe, providers="twilio")
    OrganisationSmsRoute.objects.create(organisation=demo.lyon, providers="brevo,twilio")
    assert route(demo.guadeloupe) == (["twilio"], Route.ORGANISATION)
    assert route(demo.lyon) == (["brevo", "twilio"], Route.ORGANISATION)
    assert route(None) == (["twilio", "brevo"], Route.DEFAULT)


def test_without_territory_routes_every_organisation_takes_sms_backends(demo, providers):
    providers.SMS_BACKENDS_BY_TERRITORY = ""
    assert route(demo.guadeloupe) == (["twilio", "brevo"], Route.DEFAULT)


def test_an_organisation_route_naming_a_provider_this_server_lacks_passes_it_over(demo, providers, caplog):
    providers.BREVO_API_KEY = ""  # Brevo's settings were removed after the route was set
    OrganisationSmsRoute.objects.create(organisation=demo.arras, providers="brevo,twilio")
    found = resolve(demo.arras)
    assert (found.names, found.source, found.passed_over) == (["twilio"], Route.ORGANISATION, ("brevo",))
    # Nothing usable left (or a name no longer known): the territory's or the default route.
    OrganisationSmsRoute.objects.filter(organisation=demo.arras).update(providers="brevo,sfr")
    found = resolve(demo.arras)
    assert (found.names, found.source, found.passed_over) == (["twilio", "brevo"], Route.DEFAULT, ("brevo", "sfr"))
    assert f"SMS route of organisation {demo.arras.pk}: brevo,sfr not usable" in caplog.text


def test_the_demo_gives_la_reunion_its_own_route(demo):
    assert OrganisationSmsRoute.objects.get().organisation.name.startswith("Département de La Réunion")


def test_an_organisation_route_accepts_known_providers_once_each(demo):
    route = OrganisationSmsRoute(organisation=demo.lyon, providers=" brevo , twilio ")
    route.full_clean()
    assert route.providers == "brevo,twilio"
    for providers, says in [("brevo,sfr", "« sfr » n'est pas un fournisseur SMS connu"),
                            ("brevo,brevo", "Un fournisseur figure deux fois."), (" , ", "Indiquez au moins un fournisseur.")]:
        with pytest.raises(ValidationError, match=says):
            OrganisationSmsRoute(organisation=demo.lyon, providers=providers).full_clean()


# --- The router -----------------------------------------------------------------------------------

def test_the_router_reads_each_organisation_route_once_per_instance(demo, providers, django_assert_num_queries):
    router = SmsRouter()
    with django_assert_num_queries(2):  # its own route; its places' zone
        assert [cls.name for cls in router.route(demo.guyane)] == ["brevo", "twilio"]
    with django_assert_num_queries(0):
        router.route(demo.guyane)
        assert router.current(organisation=demo.guyane) == "brevo"
        assert router.usable(organisation=demo.guyane)
    with django_assert_num_queries(1):  # Guadeloupe has its zone: its own route only
        assert router.current(organisation=demo.guadeloupe) == "brevo"
    assert router.current() == "twilio"  # the old call: SMS_BACKENDS


def test_breakers_are_per_provider_and_shared_by_every_route(demo, providers):
    Breaker("brevo").failure(ProviderUnavailable("402", code="not_enough_credits"))
    router = SmsRouter()
    assert router.current(organisation=demo.guyane) == "twilio"  # brevo,twilio: the next of the route
    assert router.current(organisation=demo.lyon) == "twilio"
    # A route of one provider has nowhere else to go: its open breaker holds its messages back
    # too (its batches defer at once instead of waiting for a timeout on each).
    assert router.current(organisation=demo.guadeloupe) is None and not router.usable(organisation=demo.guadeloupe)
    Breaker("twilio").failure(ProviderUnavailable("402", code="402"))
    assert router.current(organisation=demo.guyane) is None and not router.usable(organisation=demo.guyane)


@override_settings(SMS_BACKENDS=[SCRIPTED, OTHER], SMS_BACKENDS_BY_TERRITORY=f"America/Guadeloupe={OTHER},{SCRIPTED}")
def test_send_takes_the_organisation_route_and_the_old_call_the_default(demo):
    ScriptedSmsBackend.reset(), OtherScriptedSmsBackend.reset()
    router = SmsRouter()
    assert router.send(SmsMessage(to="+590690123456", body="a"), organisation=demo.guadeloupe)[0] == "scripted-other"
    assert router.send(SmsMessage(to="+33612345678", body="b"), organisation=demo.lyon)[0] == "scripted"
    assert router.send(SmsMessage(to="+33612345678", body="c"))[0] == "scripted"
    assert [m.body for m in OtherScriptedSmsBackend.sent] == ["a"] and [m.body for m in ScriptedSmsBackend.sent] == ["b", "c"]


def guadeloupe_sms(demo, count, committed):
    motif = Motif.objects.get(organisation=demo.guadeloupe)
    with committed():
        for index in range(count):
            contact = demo.contact(demo.guadeloupe, phone=f"+5906901234{index:02d}", email="", email_consent=False, agent=demo.marie)
            demo.book(motif=motif, agents=[demo.marie], contacts=[contact], booked_by_agent=demo.marie, days=7 + index)
    return list(Notification.objects.filter(channel="sms").order_by("pk").values_list("pk", flat=True))


@override_settings(SMS_BACKENDS=[SCRIPTED, OTHER], SMS_BACKENDS_BY_TERRITORY=f"America/Guadeloupe={SCRIPTED}",
                   SMS_BREAKER_FAILURES=3)
def test_a_batch_defers_its_rest_when_the_failing_route_has_no_other_provider(demo, django_capture_on_commit_callbacks, monkeypatch):
    # The failing provider's breaker opens at the third failure: SMS_BACKENDS would now turn to
    # the other provider, but the Guadeloupe route has only this one. The batch asks the route
    # that failed, and defers the rest rather than wait on each.
    ScriptedSmsBackend.reset([TransientDeliveryError("timeout", code="network")] * 10)
    OtherScriptedSmsBackend.reset()
    deferred = []
    monkeypatch.setattr(tasks.send_sms_batch, "apply_async", lambda args, kwargs, **kw: deferred.extend(args[0]))
    ids = guadeloupe_sms(demo, 6, lambda: django_capture_on_commit_callbacks(execute=False))
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"retrying": 3, "deferred": 3}
    assert ScriptedSmsBackend.calls == 3 and OtherScriptedSmsBackend.calls == 0 and sorted(deferred) == ids
    assert Breaker("scripted").state() == "open"


@override_settings(SMS_BACKENDS=[SCRIPTED, OTHER], SMS_BACKENDS_BY_TERRITORY=f"America/Guadeloupe={SCRIPTED},{OTHER}",
                   SMS_BREAKER_FAILURES=3)
def test_a_batch_goes_on_with_the_next_provider_of_the_failing_route(demo, django_capture_on_commit_callbacks, monkeypatch):
    ScriptedSmsBackend.reset([TransientDeliveryError("timeout", code="network")] * 10)
    OtherScriptedSmsBackend.reset()
    monkeypatch.setattr(tasks.send_sms_batch, "apply_async", lambda *args, **kw: None)  # the later batch of the 3
    ids = guadeloupe_sms(demo, 6, lambda: django_capture_on_commit_callbacks(execute=False))
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"retrying": 3, "sent": 3}
    assert OtherScriptedSmsBackend.calls == 3
    assert list(Notification.objects.filter(status=Status.SENT).values_list("provider", flat=True)) == ["scripted-other"] * 3


# --- The admin ------------------------------------------------------------------------------------

def test_an_operator_sets_an_organisation_route_on_its_page_and_sees_the_route_in_effect(demo, providers, client):
    client.force_login(user("admin"))
    page = client.get(f"/admin/appointments/organisation/{demo.guadeloupe.pk}/change/").content.decode()
    assert "Fournisseurs SMS propres à l" in page
    assert "brevo — territoire America/Guadeloupe (SMS_BACKENDS_BY_TERRITORY)" in page
    assert "Fournisseurs configurés sur ce serveur : twilio, brevo, outbox, console." in page
    answer = client.post("/admin/notifications/organisationsmsroute/add/",
                         {"organisation": demo.arras.pk, "providers": "brevo,sfr"})
    assert "« sfr » n&#x27;est pas un fournisseur SMS connu" in answer.content.decode()
    client.post("/admin/notifications/organisationsmsroute/add/", {"organisation": demo.arras.pk, "providers": "brevo, twilio"})
    assert OrganisationSmsRoute.objects.get(organisation=demo.arras).providers == "brevo,twilio"
    page = client.get(f"/admin/appointments/organisation/{demo.arras.pk}/change/").content.decode()
    assert "brevo, twilio — réglage de l&#x27;organisation" in page


def test_agents_do_not_see_the_route(demo, camille_client):
    page = camille_client.get(f"/admin/appointments/organisation/{demo.lyon.pk}/change/")
    assert page.status_code == 200 and "Fournisseurs SMS" not in page.content.decode()


# --- Real processes -------------------------------------------------------------------------------

@pytest.fixture
def routed(twilio_and_brevo):
    """Twilio for the mainland (SMS_BACKENDS), Brevo then Twilio for Guadeloupe (its territory),
    breakers shared with the worker through Redis."""
    twilio, brevo, env = twilio_and_brevo
    return twilio, brevo, env(SMS_BACKENDS="twilio,brevo", SMS_BACKENDS_BY_TERRITORY="America/Guadeloupe=brevo,twilio",
                              SMS_BREAKER_FAILURES=2, SMS_BREAKER_OPEN_SECONDS=600)


def book_in(demo, organisation, agent, phones, first_day=7):
    """One booking per number, one day after the other: one SMS each."""
    motif = Motif.objects.filter(organisation=organisation).order_by("pk").first()
    for index, phone in enumerate(phones):
        contact = demo.contact(organisation, phone=phone, email="", email_consent=False, agent=agent)
        demo.book(motif=motif, agents=[agent], contacts=[contact], booked_by_agent=agent, days=first_day + index)


def providers_by_number():
    return dict(Notification.objects.filter(channel="sms", status=Status.SENT).values_list("to", "provider"))


def all_sent(count):
    records = Notification.objects.filter(channel="sms")
    return records.count() == count and not records.exclude(status=Status.SENT).exists()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_each_organisation_takes_its_route_and_fails_over_inside_it(demo, routed):
    twilio, brevo, env = routed
    paris = [f"+336123456{index:02d}" for index in range(2)]
    guadeloupe = [f"+5906901234{index:02d}" for index in range(2)]
    arras = ["+33698765400"]
    OrganisationSmsRoute.objects.create(organisation=demo.arras, providers="brevo")
    describe = lambda: list(Notification.objects.filter(channel="sms").values_list("to", "status", "provider", "error_code"))  # noqa: E731
    with celery_worker(env, concurrency=2) as worker, tasks_go_to_broker():
        # 1. Mainland through Twilio, Guadeloupe through Brevo (its territory), Arras through
        # Brevo (its own route, though mainland).
        book_in(demo, demo.lyon, demo.camille, paris)
        book_in(demo, demo.guadeloupe, demo.marie, guadeloupe)
        book_in(demo, demo.arras, demo.sophie, arras)
        poll(lambda: all_sent(5), timeout=60, describe=describe)
        worker.wait_idle()
        assert providers_by_number() == {**dict.fromkeys(paris, "twilio"), **dict.fromkeys(guadeloupe + arras, "brevo")}
        assert sorted(m.to for m in twilio.messages) == paris
        assert sorted(m.to for m in brevo.messages) == sorted(guadeloupe + arras)

        # 2. Brevo answers 503: after two failures its breaker opens and Guadeloupe's messages
        # go to the second provider of its route; the mainland's still go to Twilio.
        brevo.fail_next(1000, status=503)
        more_guadeloupe = [f"+5906901235{index:02d}" for index in range(3)]
        more_paris = ["+33612345699"]
        book_in(demo, demo.guadeloupe, demo.marie, more_guadeloupe, first_day=20)
        book_in(demo, demo.lyon, demo.camille, more_paris, first_day=20)
        poll(lambda: all_sent(9), timeout=60, describe=describe)
        worker.wait_idle()
    by_number = providers_by_number()
    assert {number: by_number[number] for number in more_guadeloupe + more_paris} == dict.fromkeys(more_guadeloupe + more_paris, "twilio")
    assert Breaker("brevo").state() == "open" and 2 <= brevo.stats()["failed"] <= 3
    # None twice: each number reached exactly one provider, the one on its record.
    taken = [("twilio", m.to) for m in twilio.messages] + [("brevo", m.to) for m in brevo.messages]
    assert sorted(taken) == sorted((provider, number) for number, provider in by_number.items())
