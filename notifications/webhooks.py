"""anymail's tracking webhook, for the ESP of EMAIL_BACKEND only. (The SMS providers' webhooks
live with each provider: notifications/sms/webhooks/.)

anymail's tracking route exists only for the ESP of EMAIL_BACKEND (`anymail_tracking`): with
SMTP, the outbox or any other backend there is none (404). When it exists it refuses every
request (403) until ANYMAIL_WEBHOOK_SECRET (HTTP basic auth, checked by anymail) and the ESP's
own signing key, where anymail verifies one, are set; anymail then answers 400 to a request
without them. `checks.py` reports the same gaps as errors. Its events are received in
notifications/status.py.
"""

import logging

from anymail import urls as anymail_urls
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.http import Http404, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

log = logging.getLogger(__name__)


# --- anymail ----------------------------------------------------------------------------

# anymail's tracking views, by the name of the ESP's backend module (anymail.backends.<esp>),
# which is also the path segment of anymail's own URLs ("postmark", "amazon_ses"...).
TRACKING_VIEWS = {
    pattern.name.removesuffix("_tracking_webhook"): pattern.callback
    for pattern in anymail_urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
}

# The ESP's own signature that anymail verifies on tracking webhooks, as the anymail setting
# names (any one is enough) it reads the key from. Mailgun falls back to the API key, which
# is how Mailgun signs; the ESPs not listed (Brevo, Mailjet, Postmark, SparkPost, Amazon SES)
# have no signature anymail checks, so basic auth is their only protection.
SIGNING_SETTINGS = {
    "mailersend": ("signing_secret",),
    "mailgun": ("webhook_signing_key", "api_key"),
    "mailtrap": ("tracking_secret",),
    "mandrill": ("webhook_key",),
    "postal": ("webhook_key",),
    "resend": ("signing_secret",),
    "sendgrid": ("tracking_webhook_verification_key",),
    "unisender_go": ("api_key",),
}


def configured_esp():
    """The ESP of EMAIL_BACKEND ("postmark", ...) when it is one of anymail's with a tracking
    webhook, else None: SMTP, the outbox, locmem, anymail's console backend..."""
    module = settings.EMAIL_BACKEND.rpartition(".")[0]
    esp = module.removeprefix("anymail.backends.")
    return esp if module != esp and esp in TRACKING_VIEWS else None


def webhook_secret():
    return getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET") or getattr(settings, "ANYMAIL_WEBHOOK_SECRET", None)


def missing_signing_setting(esp):
    """The anymail setting name to set for `esp`'s signature, or None when none is missing."""
    names = SIGNING_SETTINGS.get(esp)
    if not names:
        return None
    esp_name = TRACKING_VIEWS[esp].view_class.esp_name
    if any(get_anymail_setting(name, esp_name=esp_name, default=None, allow_bare=True) for name in names):
        return None
    return f"ANYMAIL_{esp_name.upper().replace(' ', '_')}_{names[0].upper()}"


@csrf_exempt
def anymail_tracking(request, esp):
    """anymail's tracking webhook of the configured ESP, and of no other."""
    if esp != configured_esp():
        raise Http404
    if not webhook_secret() or missing_signing_setting(esp):
        # Fail closed: anymail itself would accept unauthenticated posts without the secret.
        log.warning("anymail %s tracking webhook refused: its authentication is not configured", esp)
        return HttpResponseForbidden("webhook authentication not configured")
    return TRACKING_VIEWS[esp](request)
