from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "RDV Service Public — espace agents"
admin.site.site_title = "RDV Service Public"
admin.site.index_title = "Rendez-vous"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("", include("appointments.urls")),
]
