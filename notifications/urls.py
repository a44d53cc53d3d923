from django.urls import include, path

from . import webhooks

app_name = "notifications"

urlpatterns = [
    # Each SMS provider's webhooks (/webhooks/twilio/status, /webhooks/twilio/inbound, ...).
    path("", include("notifications.sms.urls")),
    # anymail's tracking webhook, for the ESP of EMAIL_BACKEND only (404 for any other).
    path("anymail/<str:esp>/tracking/", webhooks.anymail_tracking, name="anymail-tracking"),
]
