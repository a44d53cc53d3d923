"""Small helpers that build what the tests talk about, from the demo data."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from appointments import services
from appointments.models import Agent, BookedBy, Channel, Contact, Motif, Organisation


class Demo:
    def __init__(self):
        self.lyon = Organisation.objects.get(name__startswith="Mairie de Lyon")
        self.guadeloupe = Organisation.objects.get(name__startswith="Préfecture de la Guadeloupe")
        self.arras = Organisation.objects.get(name__contains="Pas-de-Calais")
        self.guyane = Organisation.objects.get(name__contains="Guyane")
        self.camille = Agent.objects.get(user__username="camille.martin")
        self.julien = Agent.objects.get(user__username="julien.bernard")
        self.sophie = Agent.objects.get(user__username="sophie.lefebvre")
        self.marie = Agent.objects.get(user__username="marie.lancelot")
        self.cni = Motif.objects.get(name__startswith="Demande ou renouvellement de carte nationale")
        self.lyon_place = self.lyon.places.get()
        self.guadeloupe_place = self.guadeloupe.places.get()

    def contact(self, organisation=None, *, first_name="Léa", last_name="Dupont", phone="+33612345678",
                email="lea.dupont@exemple.fr", sms=True, email_consent=True, agent=None):
        contact = Contact.objects.create(
            organisation=organisation or self.lyon, first_name=first_name, last_name=last_name, phone=phone, email=email
        )
        if sms:
            contact.record_consent(Channel.SMS, True, source="agent", agent=agent or self.camille)
        if email_consent:
            contact.record_consent(Channel.EMAIL, True, source="agent", agent=agent or self.camille)
        return contact

    def book(self, *, starts_at=None, motif=None, place=None, agents=None, contacts=None, days=7, hour=10, **kwargs):
        motif = motif or self.cni
        place = place or (self.lyon_place if motif.organisation_id == self.lyon.pk else motif.organisation.places.first())
        if starts_at is None:
            day = timezone.localdate(timezone.now(), place.zone) + timedelta(days=days)
            starts_at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=place.zone)
        return services.book(
            motif=motif, place=place, starts_at=starts_at, agents=agents or [self.camille],
            contacts=contacts if contacts is not None else [self.contact(motif.organisation)],
            booked_by=kwargs.pop("booked_by", BookedBy.AGENT), booked_by_agent=kwargs.pop("booked_by_agent", self.camille), **kwargs,
        )


def user(username):
    return get_user_model().objects.get(username=username)


def next_weekday(days=7):
    """A working day at least `days` ahead: 10h00 on it is within the demo's opening hours
    (a start outside them needs the agent's confirmation)."""
    day = timezone.localdate() + timedelta(days=days)
    return day + timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


def appointment_form(demo, contact, *, day, time="10:00", **overrides):
    data = {
        "motif": demo.cni.pk, "location_type": "", "place": demo.lyon_place.pk, "address": "", "visio_url": "",
        "date": day.isoformat(), "time": time, "duration_minutes": "",
        "assigned_agents": [demo.camille.pk], "participating_contacts": [contact.pk],
        "status": "confirmed", "cancellation_reason": "",
    }
    data.update(overrides)
    return data
