"""An agent opens their week in a real Chromium, sees a colleague's column, clicks a free slot,
books, and finds the appointment in the agenda. Desktop viewport (1366 x 768), then a tablet.

Playwright drives Debian's Chromium (/usr/bin/chromium); screenshots go to
test-artifacts/screenshots/agenda-*.png. Dates are built from today (the live server and the
browser each read their own clock), on a Tuesday at least a week ahead.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

from appointments import dates
from appointments.models import Appointment

from .factories import user
from .support.dates import upcoming
from .support.browser import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "agenda-essai-2026"
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}


def shoot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"agenda-{name}.png", full_page=True)


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_agent_books_from_a_free_slot_of_the_week(demo, live_server, chromium):
    camille = user("camille.martin")
    camille.set_password(PASSWORD)
    camille.save()
    contact = demo.contact(first_name="Léa", last_name="Dupont")
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    demo.book(starts_at=tuesday.replace(hour=10), agents=[demo.julien],
              contacts=[demo.contact(first_name="Noé", last_name="Petit")])

    page = chromium.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
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
    # With JavaScript: the autocomplete and its "+", not the search page for browsers without it.
    assert page.get_by_role("link", name="Chercher et choisir l’usager").count() == 0
    assert page.locator("#add_id_participating_contacts").is_visible()
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
    block = page.locator(f'.agenda-rdv a[href^="/admin/appointments/appointment/{booked.pk}/change/"]')
    assert block.is_visible() and "Léa Dupont" in block.inner_text() and "9h00–9h20" in block.inner_text()
    assert page.get_by_role("link", name=label).count() == 0  # no longer free
    assert page.locator(".messagelist .success").count() == 1
    shoot(page, "03-reserve")

    # A tablet in portrait: the same page, still without sideways scrolling.
    page.set_viewport_size(TABLET)
    assert fits(page), "the week scrolls sideways on a tablet"
    shoot(page, "04-tablette")


# --- Rescheduling, cancelling, keyboard, without JavaScript, axe-core (issue 14, item 7) ----

AXE = Path(settings.BASE_DIR) / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def log_in(page, base_url, username="camille.martin"):
    account = user(username)
    account.set_password(PASSWORD)
    account.save()
    page.goto(base_url + "/admin/login/")
    page.get_by_label("Nom d’utilisateur").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    page.get_by_role("link", name=re.compile("Déconnexion")).or_(
        page.get_by_role("button", name=re.compile("Déconnexion"))).first.wait_for()


def desktop_page(chromium, **options):
    page = chromium.new_context(viewport=DESKTOP, locale="fr-FR", **options).new_page()
    page.set_default_timeout(15_000)
    return page


def week_url(base_url, day):
    return f"{base_url}/admin/appointments/appointment/agenda/?date={day.isoformat()}"


def on_the_same_week(page, day):
    """The agenda's week of `day` is the page shown."""
    page.get_by_role("heading", name=re.compile("^Semaine du")).wait_for()
    assert page.url.split("?")[0].endswith("/admin/appointments/appointment/agenda/")
    assert f"date={day.date().isoformat()}" in page.url


def test_an_agent_reschedules_by_picking_another_free_slot(demo, live_server, chromium):
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 10, 0, zone=zone, after_days=7)
    appointment = demo.book(starts_at=tuesday, agents=[demo.camille],
                            contacts=[demo.contact(first_name="Noé", last_name="Petit")])
    page = desktop_page(chromium)
    log_in(page, live_server.url)
    page.goto(week_url(live_server.url, tuesday.date()))

    # Click 1: the appointment in the week.
    page.locator(f'.agenda-rdv a[href^="/admin/appointments/appointment/{appointment.pk}/change/"]').click()
    page.get_by_role("heading", name="Déplacer sur un créneau libre").wait_for()
    shoot(page, "05-rendez-vous")
    # Click 2: one of the agent's next free slots; the form shows it.
    slot = page.locator("ul.reschedule-slots a").first
    picked = slot.inner_text()
    slot.click()
    page.get_by_text("Nouveau créneau choisi").wait_for()
    new_day, new_time = page.get_by_label("Date").input_value(), page.get_by_label(re.compile("^Heure")).input_value()
    shoot(page, "06-deplacer")
    # Click 3: save. Back on the week the agent came from.
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.locator(".messagelist .success").wait_for()
    on_the_same_week(page, tuesday)
    moved = Appointment.objects.get(pk=appointment.pk)
    local = moved.starts_at.astimezone(zone)
    assert (local.date().isoformat(), local.strftime("%H:%M")) == (new_day, new_time)
    assert moved.starts_at != tuesday and dates.french_datetime(moved.starts_at, zone) == picked
    assert moved.sequence == 1
    shoot(page, "07-deplace")


def test_an_agent_cancels_with_a_reason(demo, live_server, chromium):
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 10, 0, zone=zone, after_days=7)
    appointment = demo.book(starts_at=tuesday, agents=[demo.camille],
                            contacts=[demo.contact(first_name="Noé", last_name="Petit")])
    page = desktop_page(chromium)
    log_in(page, live_server.url)
    page.goto(week_url(live_server.url, tuesday.date()))

    page.locator(f'.agenda-rdv a[href^="/admin/appointments/appointment/{appointment.pk}/change/"]').click()  # click 1
    page.get_by_role("combobox", name="Statut").select_option("cancelled_by_agent")  # field 1
    # Without a reason: refused, in French.
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.get_by_text("Indiquez le motif de l'annulation.").wait_for()
    assert Appointment.objects.get(pk=appointment.pk).status == "confirmed"
    page.get_by_role("textbox", name="Motif d'annulation").fill("Agent en congé")  # field 2
    shoot(page, "08-annuler")
    page.get_by_role("button", name="Enregistrer", exact=True).click()  # click 2
    page.locator(".messagelist .success").wait_for()
    cancelled = Appointment.objects.get(pk=appointment.pk)
    assert cancelled.status == "cancelled_by_agent" and cancelled.cancellation_reason == "Agent en congé"

    on_the_same_week(page, tuesday)  # back where the agent came from, the cancellation in it
    block = page.locator(f'.agenda-rdv a[href^="/admin/appointments/appointment/{appointment.pk}/change/"]')
    assert "annulé par l'agent" in block.inner_text()
    shoot(page, "09-annule")


def test_the_week_is_usable_with_the_keyboard_alone(demo, live_server, chromium):
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    page = desktop_page(chromium)
    log_in(page, live_server.url)
    page.goto(week_url(live_server.url, tuesday.date()))
    label = f"Réserver le {dates.french_datetime(tuesday, zone)} avec Camille Martin"
    for _ in range(400):  # Tab until the slot has the focus: every control on the way is reachable
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == label:
            break
    else:
        pytest.fail("the free slot is never reached with Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "no visible focus"
    shoot(page, "10-clavier")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    assert page.get_by_label("Date").input_value() == tuesday.date().isoformat()


def test_the_week_works_without_javascript(demo, live_server, chromium):
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    page = desktop_page(chromium, java_script_enabled=False)
    log_in(page, live_server.url)
    page.goto(week_url(live_server.url, tuesday.date()))
    # The colleague unticked, then the next week: plain GET forms and links.
    page.get_by_role("checkbox", name="Julien Bernard").uncheck()
    page.get_by_role("button", name="Afficher").click()
    assert page.get_by_role("columnheader", name="Julien Bernard").count() == 0
    page.get_by_role("link", name="Semaine suivante ›").click()
    page.get_by_role("heading", name=re.compile("^Semaine du")).wait_for()
    assert "date=" in page.url and tuesday.date().isoformat() not in page.url
    page.get_by_role("link", name="‹ Semaine précédente").click()
    label = f"Réserver le {dates.french_datetime(tuesday, zone)} avec Camille Martin"
    page.get_by_role("link", name=label).click()
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    assert page.get_by_label(re.compile("^Heure")).input_value() == "09:00"


def test_an_agent_books_a_citizen_from_a_free_slot_without_javascript(demo, live_server, chromium):
    """The booking form's citizen field is the admin's autocomplete, which needs JavaScript;
    without it, a search page of its own picks the citizen."""
    lea = demo.contact(first_name="Léa", last_name="Dupont")
    demo.contact(first_name="Paul", last_name="Dupont", email="paul.dupont@exemple.fr")
    demo.contact(demo.arras, first_name="Léa", last_name="Dupont")  # another organisation's namesake
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    page = desktop_page(chromium, java_script_enabled=False)
    log_in(page, live_server.url)
    page.goto(week_url(live_server.url, tuesday.date()))

    label = f"Réserver le {dates.french_datetime(tuesday, zone)} avec Camille Martin"
    page.get_by_role("link", name=label).click()  # click 1: the free slot
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    page.wait_for_load_state()  # the parser waits for the <noscript> stylesheet before the rest of the form
    assert page.locator(".select2").count() == 0, "JavaScript ran"
    add_related = page.locator("#add_id_participating_contacts")  # the "+", whose pop-up needs JavaScript
    assert add_related.count() == 1 and add_related.is_hidden()
    page.get_by_role("link", name="Chercher et choisir l’usager").click()  # click 2
    page.get_by_role("heading", name="Choisir l’usager du rendez-vous").wait_for()
    search = page.get_by_role("searchbox", name=re.compile("^Nom, prénom, téléphone"))
    search.fill("dupont")  # field 1
    search.press("Enter")  # the keyboard submits the search
    page.get_by_role("heading", name="2 usagers trouvés").wait_for()  # Camille's organisation's only
    shoot(page, "11-usager-sans-js")
    for _ in range(10):  # Tab from the search box to the first citizen found
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Choisir Léa Dupont":
            break
    else:
        pytest.fail("the citizen found is never reached with Tab")
    page.keyboard.press("Enter")  # click 3: the citizen
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    assert page.locator("#id_participating_contacts option:checked").all_inner_texts() == ["Léa Dupont"]
    assert page.get_by_label("Date").input_value() == tuesday.date().isoformat()
    assert page.get_by_label(re.compile("^Heure")).input_value() == "09:00"
    shoot(page, "12-formulaire-sans-js")
    page.get_by_role("button", name="Enregistrer", exact=True).click()  # click 4: save
    on_the_same_week(page, tuesday)
    booked = Appointment.objects.get(contacts=lea)
    assert booked.starts_at == tuesday and list(booked.agents.all()) == [demo.camille]
    assert page.locator(f'.agenda-rdv a[href^="/admin/appointments/appointment/{booked.pk}/change/"]').is_visible()
    shoot(page, "13-reserve-sans-js")


def serious_axe_violations(page):
    """axe-core's serious and critical violations on the page, as readable lines."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_violation_on_the_agenda_and_the_booking_form(demo, live_server, chromium):
    assert AXE.exists(), "axe-core missing: make install (npm ci --prefix tests/axe)"
    zone = demo.lyon_place.zone
    tuesday = upcoming(1, 9, 0, zone=zone, after_days=7)
    appointment = demo.book(starts_at=tuesday.replace(hour=10), agents=[demo.julien],
                            contacts=[demo.contact(first_name="Noé", last_name="Petit")])
    # The policy forbids the inline script add_script_tag writes: bypassed here, for axe only
    # (tests/test_security_csp.py checks the policy itself).
    page = desktop_page(chromium, bypass_csp=True)
    log_in(page, live_server.url)
    found = {}
    page.goto(week_url(live_server.url, tuesday.date()))
    found["agenda"] = serious_axe_violations(page)
    page.get_by_role("link", name=f"Réserver le {dates.french_datetime(tuesday, zone)} avec Camille Martin").click()
    page.get_by_role("heading", name=re.compile("Ajout")).wait_for()
    found["booking form"] = serious_axe_violations(page)
    page.goto(f"{live_server.url}/admin/appointments/appointment/{appointment.pk}/change/")
    found["appointment"] = serious_axe_violations(page)
    # The page that picks the citizen without JavaScript, with its results.
    page.goto(f"{live_server.url}/admin/appointments/appointment/usager/?motif={demo.cni.pk}")
    page.get_by_role("searchbox", name=re.compile("^Nom, prénom")).fill("Petit")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Choisir Noé Petit").wait_for()
    found["citizen search"] = serious_axe_violations(page)
    assert found == {"agenda": [], "booking form": [], "appointment": [], "citizen search": []}
