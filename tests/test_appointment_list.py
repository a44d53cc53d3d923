"""The agents' list of appointments: who it is with, for whom, where; filters offering only
the agent's own organisations' agents, places and services."""

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext



PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=PARIS)
pytestmark = [pytest.mark.time_machine(NOW, tick=False), pytest.mark.usefixtures("opening_hours_since_2026")]
LIST = "/admin/appointments/appointment/"


def text_of(response):
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def row_of(page, appointment):
    start = page.index(f"/admin/appointments/appointment/{appointment.pk}/change/")
    return page[start:page.index("</tr>", start)]


def test_two_appointments_at_the_same_time_can_be_told_apart(camille_client, demo):
    at = datetime(2026, 12, 8, 14, 30, tzinfo=PARIS)
    hers = demo.book(starts_at=at, agents=[demo.camille], contacts=[demo.contact(first_name="Léa", last_name="Dupont")])
    his = demo.book(starts_at=at, agents=[demo.julien], contacts=[demo.contact(first_name="Noé", last_name="Petit")])
    page = text_of(camille_client.get(LIST))
    headers = [h.strip() for h in re.findall(r'<div class="text">(?:<a [^>]*>|<span>)?([^<]+)<', page)]
    assert headers == ["Début (heure locale)", "Agents", "Usagers", "Motif", "Lieu", "Statut"]
    assert "Camille Martin" in row_of(page, hers) and "Léa Dupont" in row_of(page, hers)
    assert "Julien Bernard" in row_of(page, his) and "Noé Petit" in row_of(page, his)
    assert "Mairie du 3e" in row_of(page, hers) and "215 rue Duguesclin" not in row_of(page, hers)
    assert 'href="/admin/appointments/appointment/agenda/">Agenda</a>' in page  # the way to the agenda
    # The agent filter.
    page = text_of(camille_client.get(LIST, {"agents__id__exact": demo.julien.pk}))
    assert f"/appointment/{his.pk}/change/" in page and f"/appointment/{hers.pk}/change/" not in page


def test_every_filter_offers_only_the_agents_own_organisations(camille_client, demo):
    demo.book()
    page = text_of(camille_client.get(LIST))
    filters = page[page.index('id="changelist-filter"'):]
    assert "Camille Martin" in filters and "Julien Bernard" in filters
    for elsewhere in ("Sophie Lefebvre", "Marie Lancelot", "Sous-préfecture de Pointe-à-Pitre", "MDS de l'Arrageois",
                      "Service social départemental", "Médiation numérique"):
        assert elsewhere not in filters, elsewhere
    assert "Titres d'identité" in filters and "Mairie du 3e" in filters
    # An agent of another organisation, asked for by hand, shows nothing of theirs.
    page = text_of(camille_client.get(LIST, {"agents__id__exact": demo.sophie.pk}))
    assert "0 rendez-vous" in page or "/change/" not in page.split('id="result_list"')[-1]


def test_the_list_runs_a_constant_number_of_queries(camille_client, demo):
    demo.book(starts_at=datetime(2026, 12, 8, 9, 0, tzinfo=PARIS))
    camille_client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        text_of(camille_client.get(LIST))
    for hour in range(10, 17):
        demo.book(starts_at=datetime(2026, 12, 8, hour, 0, tzinfo=PARIS),
                  contacts=[demo.contact(first_name=f"U{hour}")])
    with CaptureQueriesContext(connection) as many:
        text_of(camille_client.get(LIST))
    assert len(many) == len(few)
