"""Picking the citizen of a new appointment without JavaScript (issue 14, item 7): from the
booking form a free slot opened, a page searches the agent's organisations' citizens and each
found one is a link back to the form with them picked. The browser flow with JavaScript off is
in test_agenda_browser.py."""

import html
import re
from datetime import date, datetime
from urllib.parse import parse_qs, urlencode, urlparse
from zoneinfo import ZoneInfo

import pytest

from appointments.models import Appointment, Contact

from .factories import appointment_form

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=PARIS)  # a Monday morning; the tests name calendar days
pytestmark = [pytest.mark.time_machine(NOW, tick=False), pytest.mark.usefixtures("opening_hours_since_2026")]

ADD = "/admin/appointments/appointment/add/"
PICK = "/admin/appointments/appointment/usager/"
NEW_CONTACT = {"first_name": "Inès", "last_name": "Moreau", "phone": "", "email": "", "address": "",
               "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0"}


def text_of(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def slot_params(demo):
    """What the agenda's free slot of Tuesday 8 December, 9h20, with Camille puts in the URL."""
    return {"motif": demo.cni.pk, "assigned_agents": demo.camille.pk, "date": "2026-12-08", "time": "09:20",
            "place": demo.lyon_place.pk, "retour": "agenda"}


def query(url):
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def pick_links(page):
    """The "Choisir …" links of the results, as {name: href}."""
    return {name: href for href, name in re.findall(r'<a class="button" href="([^"]+)">Choisir <strong>([^<]+)</strong>',
                                                    page)}


def test_the_booking_form_offers_the_pick_page_to_a_browser_without_javascript(camille_client, demo):
    form = text_of(camille_client.get(ADD + "?" + urlencode(slot_params(demo))))
    noscript = re.search(r"<noscript>(.*?)</noscript>", form, re.S).group(1)
    href = re.search(r'href="([^"]+)">Chercher et choisir l’usager</a>', noscript).group(1)
    assert urlparse(href).path == PICK
    assert query(href) == {k: str(v) for k, v in slot_params(demo).items()}  # the slot goes there and back


def test_searching_lists_the_organisations_citizens_each_a_link_back_to_the_form(camille_client, demo):
    lea = demo.contact(first_name="Léa", last_name="Dupont", phone="+33612345678")
    demo.contact(first_name="Paul", last_name="Dupont", phone="", email="paul.dupont@exemple.fr", sms=False)
    demo.contact(first_name="Noé", last_name="Petit", email="noe.petit@exemple.fr")
    demo.contact(demo.arras, first_name="Léa", last_name="Dupont")  # another organisation's: never shown
    url = PICK + "?" + urlencode(slot_params(demo))

    page = text_of(camille_client.get(url))
    assert "Choisir l’usager du rendez-vous" in page and 'name="recherche"' in page and "Choisir <strong>" not in page

    page = text_of(camille_client.post(url, {"recherche": "dupont"}))
    links = pick_links(page)
    assert sorted(links) == ["Léa Dupont", "Paul Dupont"] and "2 usagers trouvés" in page
    assert "06 12 34 56 78" in page and "paul.dupont@exemple.fr" in page  # to tell namesakes apart
    picked = query(links["Léa Dupont"])
    assert urlparse(links["Léa Dupont"]).path == ADD
    assert picked == {**{k: str(v) for k, v in slot_params(demo).items()}, "participating_contacts": str(lea.pk)}
    assert not any("dupont" in href.lower() for href in re.findall(r'href="([^"]+)"', page)), "the search in a URL"

    assert "Aucun usager ne correspond à « Martin »." in text_of(camille_client.post(url, {"recherche": "Martin"}))
    assert "Saisissez un nom" in text_of(camille_client.post(url, {"recherche": "  "}))


def test_a_picked_citizen_is_in_the_form_and_the_booking_returns_to_the_agenda(camille_client, demo):
    lea = demo.contact(first_name="Léa", last_name="Dupont")
    page = text_of(camille_client.post(PICK + "?" + urlencode(slot_params(demo)), {"recherche": "Léa"}))
    href = pick_links(page)["Léa Dupont"]

    form = text_of(camille_client.get(href))
    select = re.search(r'<select name="participating_contacts".*?</select>', form, re.S).group(0)
    assert re.search(rf'<option value="{lea.pk}" selected>Léa Dupont</option>', select)
    assert 'name="time" value="09:20"' in form
    # A second citizen: the pick page keeps the first one.
    second = re.search(r'href="([^"]+)">Chercher et choisir', form).group(1)
    assert query(second)["participating_contacts"] == str(lea.pk)
    assert "Déjà choisi pour ce rendez-vous : <strong>Léa Dupont</strong>" in text_of(camille_client.get(second))

    data = appointment_form(demo, lea, day=date(2026, 12, 8), time="09:20")
    response = camille_client.post(href, data)  # the form posts to its own URL
    assert response.status_code == 302 and urlparse(response["Location"]).path.endswith("/agenda/")
    booked = Appointment.objects.get()
    assert list(booked.contacts.all()) == [lea] and booked.local_starts_at.hour == 9


def test_another_organisations_citizen_cannot_be_slipped_into_the_url(camille_client, demo):
    stranger = demo.contact(demo.arras, first_name="Jean", last_name="Étranger")
    params = {**slot_params(demo), "participating_contacts": str(stranger.pk)}
    assert "Étranger" not in text_of(camille_client.get(ADD + "?" + urlencode(params)))
    assert "Étranger" not in text_of(camille_client.get(PICK + "?" + urlencode(params)))
    for junk in ("abc", "²", "1" * 30, ",,"):  # a mistyped or forged value is ignored, never a server error
        params = {**slot_params(demo), "participating_contacts": junk}
        assert 'name="participating_contacts"' in text_of(camille_client.get(ADD + "?" + urlencode(params)))
        assert "Choisir l’usager du rendez-vous" in text_of(camille_client.get(PICK + "?" + urlencode(params)))


def test_more_matches_than_a_page_ask_for_a_closer_search(camille_client, demo):
    Contact.objects.bulk_create(Contact(organisation=demo.lyon, first_name=f"Prénom{i}", last_name="Martin")
                                for i in range(25))
    page = text_of(camille_client.post(PICK, {"recherche": "martin"}))
    assert len(pick_links(page)) == 20 and "Seuls les 20 premiers sont affichés : précisez la recherche" in page


def test_a_new_citizen_created_from_the_pick_page_is_picked_in_the_form(camille_client, demo):
    page = text_of(camille_client.get(PICK + "?" + urlencode(slot_params(demo))))
    create = re.search(r'href="([^"]+)">Créer un nouvel usager</a>', page).group(1)
    assert urlparse(create).path == "/admin/appointments/contact/add/"
    details = {**NEW_CONTACT, "phone": "06 98 76 54 32"}
    response = camille_client.post(create, details)
    assert response.status_code == 302, text_of(response)[:2000]
    ines = Contact.objects.get(last_name="Moreau")
    assert ines.organisation == demo.lyon and ines.sms_consent  # giving the number is the consent
    assert urlparse(response["Location"]).path == ADD
    assert query(response["Location"]) == {**{k: str(v) for k, v in slot_params(demo).items()},
                                           "participating_contacts": str(ines.pk)}


@pytest.mark.parametrize("hostile", ["https://attaquant.example/", "//attaquant.example/admin/appointments/",
                                     "/\\attaquant.example/"])
def test_creating_a_citizen_never_follows_a_return_address_elsewhere(camille_client, demo, hostile):
    response = camille_client.post("/admin/appointments/contact/add/?" + urlencode({"next": hostile}), NEW_CONTACT)
    assert response.status_code == 302 and "attaquant" not in response["Location"]
    assert urlparse(response["Location"]).path.startswith("/admin/appointments/contact/")
