"""The notifications app's part of the demo data (seed_demo calls it, see apps.py)."""

# One demo organisation with its own SMS providers, as an operator would set them for a service
# that pays Brevo for La Réunion: Brevo first, Twilio when Brevo fails. On a server where neither
# is configured (the development outbox) the route is passed over, and the admin says so.
DEMO_SMS_ROUTES = {
    "Département de La Réunion — Territoire d'action sociale Sud": "brevo,twilio",
}


def seed_sms_routes(organisations):
    """Idempotent: an operator's later edit of the demo route stays."""
    from .models import OrganisationSmsRoute

    for name, providers in DEMO_SMS_ROUTES.items():
        if name in organisations:
            OrganisationSmsRoute.objects.get_or_create(organisation=organisations[name], defaults={"providers": providers})
