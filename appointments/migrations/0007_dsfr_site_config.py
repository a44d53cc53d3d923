"""The DSFR site configuration in French (django-dsfr's DsfrConfig): with none for the page's
language, django-dsfr looks twice on every page. Editable in the admin afterwards."""

from django.db import migrations


def create_french_site_config(apps, schema_editor):
    DsfrConfig = apps.get_model("dsfr", "DsfrConfig")
    DsfrConfig.objects.get_or_create(language="fr", defaults={
        "site_title": "RDV Service Public",
        "site_tagline": "Prendre rendez-vous avec un service public",
        "header_brand": "République française",
        "header_brand_html": "République<br />française",
        "footer_brand": "République française",
        "footer_brand_html": "République<br />française",
        "footer_description": (
            "RDV Service Public permet de prendre rendez-vous en ligne avec les services publics, "
            "et d'être prévenu par SMS ou par e-mail."
        ),
        "accessibility_status": "NOT",
    })


class Migration(migrations.Migration):

    dependencies = [
        ("appointments", "0006_french_labels"),
        ("dsfr", "0012_dsfrconfig_notice_description_and_more"),
    ]

    operations = [migrations.RunPython(create_french_site_config, migrations.RunPython.noop)]
