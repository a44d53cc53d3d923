"""An agent opens their week in a real Chromium, sees a colleague's column, clicks a free slot,
books, and finds the appointment in the agenda. Desktop viewport (1366 x 768), then a tablet.

Playwright drives Debian's Chromium (/usr/bin/chromium); screenshots go to
test-artifacts/screenshots/agenda-*.png. Dates are built from today (the live server and the
browser each read their own clock), on a Tuesday at least a week ahead.
"""

import os
import re

import pytest

from appointments import dates
from appointments.models import Appointment

from .factories import user
from .support.dates import upcoming
from .test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, _install_chromium
from .servers import IN_CI

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "agenda-essai-2026"
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}


@pytest.fixture
def browser():
    problem = _install_chromium()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def shoot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"agenda-{name}.png", full_page=True)


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_agent_books_from_a_free_slot_of_the_week(demo, live_server, browser):
    camille = user("camille.martin")
    camille.set_password(PASSWORD)
    camille.save()
    contact = demo.contact(first_name="Léa", last_name="Dupont")
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    demo.book(starts_at=tuesday.replace(hour=10), agents=[demo.julien],
              contacts=[demo.contact(first_name="Noé", last_name="Petit")])

    page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Nom d’utilisateur").fill("camille.martin")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Connexion").click()

    page.goto(f"{live_server.url}/admin/appointments/appointment/agenda/?date={tuesday.date().isoformat()}")
    page.get_by_role("heading", name=re.compile("^Semaine du")).wait_for()
    table = page.get_by_role("table")
    assert table.get_by_role("columnheader", name="Camille Martin").is_visible()
    assert table.get_by_role("columnheader", name="Julien Bernard").is_visible()  # the colleague's column
    assert table.get_by_text("Noé Petit").is_visible()
    assert fits(page), "the week scrolls sideways at 1366 px"
    shoot(page, "01-semaine")

    # Click 1: the free slot. The form arrives filled in.
    label = f"Réserver le {dates.french_datetime(tuesday, zone)} avec Camille Martin"
    page.get_by_role("link", name=label).click()
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    assert page.get_by_label("Date").input_value() == tuesday.date().isoformat()
    assert page.get_by_label(re.compile("^Heure")).input_value() == "09:00"
    # The citizen, through the admin's autocomplete.
    page.locator(".field-participating_contacts .select2-selection").click()
    page.keyboard.type("Dupont")
    page.locator(".select2-results__option", has_text="Léa Dupont").click()
    shoot(page, "02-formulaire")
    # Click 2: save. Back to the agenda's week, where the appointment now is.
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.get_by_role("heading", name=re.compile("^Semaine du")).wait_for()
    booked = Appointment.objects.get(contacts=contact)
    assert booked.starts_at == tuesday and list(booked.agents.all()) == [demo.camille]
    block = page.locator(f'.agenda-rdv a[href="/admin/appointments/appointment/{booked.pk}/change/"]')
    assert block.is_visible() and "Léa Dupont" in block.inner_text() and "9h00–9h20" in block.inner_text()
    assert page.get_by_role("link", name=label).count() == 0  # no longer free
    assert page.locator(".messagelist .success").count() == 1
    shoot(page, "03-reserve")

    # A tablet in portrait: the same page, still without sideways scrolling.
    page.set_viewport_size(TABLET)
    assert fits(page), "the week scrolls sideways on a tablet"
    shoot(page, "04-tablette")
