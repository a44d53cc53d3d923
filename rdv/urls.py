from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "RDV Service Public — espace agents"
admin.site.site_title = "RDV Service Public"
admin.site.index_title = "Rendez-vous"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    # Delivery statuses coming back: Twilio callbacks, and the tracking webhook of the
    # configured anymail ESP only (never `include("anymail.urls")`: it mounts every ESP's
    # routes, open to forged reports; notifications.E006 refuses it).
    path("webhooks/", include("notifications.urls")),
    # The citizens' pages, last: they start at "/".
    path("", include("appointments.urls")),
]
