"""What the public pages do per request, whatever the cache: the link page before the initials
reads one row, and the DSFR site configuration exists in French and is read once per process."""

import importlib

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from dsfr.models import DsfrConfig

from appointments import context_processors
from appointments.models import LINK_PREFIX

from .public_pages import text


def test_the_link_page_before_the_initials_runs_one_query(demo, client, django_assert_num_queries):
    appointment = demo.book(contacts=[demo.contact(first_name="Élodie", last_name="Le Goff")])
    url = f"{LINK_PREFIX}{appointment.token}"
    client.get(url)  # what each process reads once (the DSFR configuration)
    with django_assert_num_queries(1):
        response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200 and 'name="first_initial"' in page and 'name="csrfmiddlewaretoken"' in page
    assert "Élodie" not in page and appointment.motif.name not in page
    # The initials still open the details (the full appointment is read then).
    client.post(url, {"first_initial": "E", "last_initial": "L"})
    assert appointment.motif.name in text(client.get(url))


def test_the_dsfr_configuration_is_created_in_french_and_kept_per_process(db, client):
    DsfrConfig.objects.all().delete()
    migration = importlib.import_module("appointments.migrations.0007_dsfr_site_config")
    migration.create_french_site_config(apps, None)
    config = DsfrConfig.objects.get(language="fr")
    assert config.site_title == "RDV Service Public"

    context_processors._kept.clear()
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").context["SITE_CONFIG"] == config
    assert not [q for q in queries if "dsfr_dsfrconfig" in q["sql"]]
    config.site_tagline = "Nouvelle accroche"
    config.save()  # in this process: forgotten at once
    assert client.get("/").context["SITE_CONFIG"].site_tagline == "Nouvelle accroche"
    context_processors._kept.clear()
