from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "RDV Service Public — espace agents"
admin.site.site_title = "RDV Service Public"
admin.site.index_title = "Rendez-vous"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    # Delivery statuses coming back: Twilio callbacks, anymail's tracking webhooks.
    path("webhooks/", include("notifications.urls")),
    path("webhooks/anymail/", include("anymail.urls")),
    # The citizens' pages, last: they start at "/".
    path("", include("appointments.urls")),
]
