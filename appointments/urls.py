"""The citizens' public pages, included at the site root. The link page path must match
models.LINK_PREFIX, which builds the links put in SMS and emails."""

from django.urls import path

from . import views
from .models import LINK_PREFIX

assert LINK_PREFIX == "/r/", "appointments/urls.py routes the link page at r/<token>"

urlpatterns = [
    path("", views.home, name="booking_home"),
    path("reserver/motif/", views.choose_motif, name="booking_motif"),
    path("reserver/lieu/", views.choose_place, name="booking_place"),
    path("reserver/creneau/", views.choose_slot, name="booking_slots"),
    path("reserver/coordonnees/", views.contact_details, name="booking_contact"),
    path("reserver/confirmation/", views.booking_done, name="booking_done"),
    path("r/<str:token>", views.appointment_link, name="appointment_link"),
    path("r/<str:token>/annuler", views.appointment_cancel, name="appointment_cancel"),
    path("r/<str:token>/reprendre", views.appointment_rebook, name="appointment_rebook"),
    path("r/<str:token>/desinscription", views.appointment_unsubscribe, name="appointment_unsubscribe"),
]
