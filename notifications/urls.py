from django.urls import path

from . import webhooks

app_name = "notifications"

urlpatterns = [
    path("twilio/status", webhooks.twilio_status, name="twilio-status"),
    path("twilio/inbound", webhooks.twilio_inbound, name="twilio-inbound"),
    # anymail's tracking webhook, for the ESP of EMAIL_BACKEND only (404 for any other).
    path("anymail/<str:esp>/tracking/", webhooks.anymail_tracking, name="anymail-tracking"),
]
