"""Error pages (issue 10, item 7): 400, 403 (and a refused CSRF token) and 500 answer in
French, in the public pages' DSFR layout, never Django's English defaults."""

import pytest
from django.test import Client, override_settings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ENGLISH = ["Bad Request", "Forbidden", "Server Error", "CSRF verification failed", "Not Found"]


def assert_french_page(response, status, title):
    assert response.status_code == status
    html = response.content.decode()
    assert f"<h1>{title}</h1>" in html
    assert 'lang="fr"' in html and "fr-header" in html and "fr-footer" in html  # the DSFR layout
    for english in ENGLISH:
        assert english not in html


@override_settings(ROOT_URLCONF="tests.support.error_urls", DEBUG=False)
def test_400_403_and_500_are_french_pages():
    client = Client(raise_request_exception=False)
    assert_french_page(client.get("/tests/400"), 400, "Demande incorrecte")
    assert_french_page(client.get("/tests/403"), 403, "Accès refusé")
    assert_french_page(client.get("/tests/500"), 500, "Erreur inattendue")


@override_settings(DEBUG=False, ALLOWED_HOSTS=["rdv.example.fr"])
def test_an_unknown_host_gets_the_french_400():
    assert_french_page(Client().get("/", HTTP_HOST="evil.example"), 400, "Demande incorrecte")


@override_settings(DEBUG=False)
def test_a_refused_csrf_token_gets_a_french_403(demo):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/reserver/coordonnees/", {"first_name": "Léa"})
    assert_french_page(response, 403, "Formulaire expiré")


@override_settings(DEBUG=False)
def test_404_is_french_too(client):
    assert_french_page(client.get("/nulle-part/"), 404, "Page introuvable")
