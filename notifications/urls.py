from django.urls import path

from . import webhooks

app_name = "notifications"

urlpatterns = [
    path("twilio/status", webhooks.twilio_status, name="twilio-status"),
    path("twilio/inbound", webhooks.twilio_inbound, name="twilio-inbound"),
]
