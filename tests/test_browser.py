"""A citizen books on a phone, then cancels through the link page, in a real Chromium.

Playwright drives Debian's Chromium (/usr/bin/chromium, never a downloaded browser) against
pytest-django's live server. Each step is photographed into test-artifacts/screenshots/.
"""

import re

import pytest

from appointments.models import Appointment, AppointmentStatus, BookedBy, ConsentRecord

from .support.browser import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Photographer:
    def __init__(self, prefix):
        self.prefix = prefix
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, name):
        page.wait_for_load_state()
        # Responsive: nothing wider than the screen, whatever the step.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} scrolls sideways"
        self.count += 1
        page.screenshot(path=SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png", full_page=True)


def _book_on_phone(page, base_url, shoot=None):
    """The booking path as a citizen goes through it; returns the link page path."""
    shoot = shoot or (lambda *args: None)
    page.goto(base_url + "/")
    shoot(page, "services")
    page.get_by_role("link", name="Titres d'identité").click()
    shoot(page, "motifs")
    page.get_by_role("link", name=re.compile("^Demande ou renouvellement")).click()
    shoot(page, "lieu")
    page.get_by_role("link", name=re.compile("^Mairie du 3e")).click()
    page.get_by_role("heading", name=re.compile("Choisir un créneau")).wait_for()
    shoot(page, "creneaux")
    first_slot = page.locator("a.fr-tag").first
    chosen = first_slot.get_attribute("aria-label")
    first_slot.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # slots are plain links: the keyboard chooses them
    shoot(page, "coordonnees")

    # Labels are tied to their fields: the citizen's view of the form is enough to fill it.
    page.get_by_label("Prénom").fill("Léa")
    page.get_by_label("Nom", exact=True).fill("Dupont")
    page.get_by_role("textbox", name=re.compile("Téléphone mobile")).fill("01 42 76 40 40")
    page.get_by_role("textbox", name=re.compile("Adresse e-mail")).fill("lea.dupont@exemple.fr")
    # Giving the details is the consent: no box to tick, the sentence next to each field.
    assert page.locator("input[type=checkbox]").count() == 0
    assert page.get_by_text(re.compile("En indiquant votre numéro de mobile, vous acceptez")).is_visible()
    page.get_by_role("button", name="Continuer").click()
    error = page.locator("#id_phone-desc-error")
    assert "seuls les numéros de téléphone mobile français" in error.inner_text()
    assert page.get_by_role("textbox", name=re.compile("Téléphone mobile")).get_attribute("aria-describedby") == "id_phone-desc-error"
    shoot(page, "coordonnees-erreur")

    phone_field = page.get_by_role("textbox", name=re.compile("Téléphone mobile"))
    phone_field.fill("06 12 34 56 78")
    with page.expect_navigation():
        phone_field.press("Enter")  # the keyboard submits the form
    page.get_by_role("heading", name="Vérifiez votre rendez-vous").wait_for()
    shoot(page, "verification")
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    page.get_by_text("Votre rendez-vous est confirmé").wait_for()
    assert chosen.lower() in page.content().lower()
    assert "Vous recevrez la confirmation par SMS au 06 12 34 56 78 et par e-mail" in page.locator("#who-is-told").inner_text()
    shoot(page, "confirmation")
    link = page.locator("a[href*='/r/']").first.get_attribute("href")
    return "/r/" + link.rsplit("/r/", 1)[1]


def test_a_citizen_books_on_a_phone_then_cancels_through_the_link(demo, live_server, phone):
    shoot = Photographer("reservation")
    link_path = _book_on_phone(phone(), live_server.url, shoot)
    appointment = Appointment.objects.get()
    assert appointment.booked_by == BookedBy.CITIZEN
    assert ConsentRecord.objects.filter(source="citizen").count() == 2

    # The link, opened from the SMS on another device: initials first.
    page = phone()
    page.goto(live_server.url + link_path)
    assert appointment.motif.name not in page.content()
    shoot(page, "lien-initiales")
    page.get_by_label("Première lettre du prénom").fill("l")
    page.get_by_label("Première lettre du nom").fill("d")
    page.get_by_role("button", name="Afficher le rendez-vous").click()
    page.get_by_role("link", name="Annuler ce rendez-vous").wait_for()
    assert "Apportez votre pré-demande ANTS" in page.content()
    shoot(page, "lien-detail")
    page.get_by_role("link", name="Annuler ce rendez-vous").click()
    shoot(page, "annulation-question")
    page.get_by_role("button", name="Oui, annuler le rendez-vous").click()
    page.get_by_text("Votre rendez-vous est annulé").wait_for()
    shoot(page, "annulation-faite")

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED_BY_CITIZEN


def test_pages_fit_a_desktop_screen(demo, live_server, chromium):
    page = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR").new_page()
    shoot = Photographer("bureau")
    page.goto(live_server.url + "/")
    shoot(page, "services")
    page.goto(f"{live_server.url}/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}")
    shoot(page, "creneaux")
    page.context.close()


def test_booking_works_without_javascript(demo, live_server, phone):
    _book_on_phone(phone(java_script_enabled=False), live_server.url)
    assert Appointment.objects.filter(booked_by=BookedBy.CITIZEN, status=AppointmentStatus.CONFIRMED).count() == 1


def test_a_guyane_phone_appointment_is_booked_and_told_in_cayenne_time(demo, live_server, phone):
    """The overseas organisation whose zone is only on its places: 9h00 in Cayenne stays 9h00
    on the slot page, the confirmation, the SMS and the email (not Paris' 13h00 or 14h00)."""
    from zoneinfo import ZoneInfo

    from notifications.models import Notification

    from .support.dates import french, upcoming

    cayenne = ZoneInfo("America/Cayenne")
    monday = upcoming(0, 9, zone=cayenne, after_days=8)
    shoot = Photographer("guyane")
    page = phone()
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Action sociale de proximité").click()
    page.get_by_role("link", name=re.compile("^Entretien téléphonique")).click()
    page.get_by_role("heading", name=re.compile("Choisir un créneau")).wait_for()  # no place to choose by phone
    motif_id = re.search(r"motif=(\d+)", page.url).group(1)
    page.goto(f"{live_server.url}/reserver/creneau/?motif={motif_id}&semaine={monday.date().isoformat()}")
    shoot(page, "creneaux")
    nine = page.locator(f"section[aria-labelledby='day-{monday.date().isoformat()}'] a.fr-tag").first
    assert nine.inner_text() == "9h00"
    assert nine.get_attribute("aria-label").lower() == french(monday, cayenne).lower()
    with page.expect_navigation():
        nine.click()
    page.get_by_label("Prénom").fill("Léa")
    page.get_by_label("Nom", exact=True).fill("Dupont")
    page.get_by_role("textbox", name=re.compile("^Téléphone")).fill("+594 694 12 34 56")  # a Guyane mobile
    page.get_by_role("textbox", name=re.compile("Adresse e-mail")).fill("lea.dupont@exemple.fr")
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("heading", name="Vérifiez votre rendez-vous").wait_for()
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    page.get_by_text("Votre rendez-vous est confirmé").wait_for()
    assert french(monday, cayenne).lower() in page.content().lower()
    shoot(page, "confirmation")

    appointment = Appointment.objects.get()
    assert appointment.starts_at == monday and appointment.local_starts_at.hour == 9
    sms = Notification.objects.get(channel="sms", contact__isnull=False)
    assert "à 9h00" in sms.body, sms.body
    email = Notification.objects.get(channel="email", contact__isnull=False)
    assert french(monday, cayenne) in email.subject
