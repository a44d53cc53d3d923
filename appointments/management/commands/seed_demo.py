import random
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from appointments import signals
from appointments.consent import CONSENT_TEXT_VERSION
from appointments.demo import DEMO_PASSWORD, DEMO_SUPERUSER, FIRST_NAMES, LAST_NAMES, ORGANISATIONS
from appointments.models import (
    Agent, Appointment, AppointmentAgent, AppointmentStatus, BookedBy, Channel, ConsentRecord, ConsentSource,
    Contact, LocationType, Motif, OpeningHours, Organisation, Participation, Place, Service, new_token,
)

AGENTS_GROUP = "Agents"
# What an agent may do in the admin; rows are still scoped to its organisations.
AGENT_PERMISSIONS = {
    "appointment": ("add", "change", "view"),
    "contact": ("add", "change", "view"),
    "consentrecord": ("view",),
    "openinghours": ("add", "change", "view", "delete"),
    "motif": ("add", "change", "view"),
    "place": ("add", "change", "view"),
    "service": ("view",),
    "organisation": ("view",),
    "agent": ("view",),
}
EXTRA_PERMISSIONS = []  # other apps append (app_label, codename) pairs their agents need
# Other apps append callables(organisations: {name: Organisation}) that add their own demo data
# to the demo organisations (idempotently, as the rest).
EXTRA_DEMO_DATA = []

BENCH_PREFIX = "bench.agent."
SLOT_MINUTES = 30
SLOTS_PER_DAY = 20  # 08:00 to 18:00
BATCH = 10_000


class Command(BaseCommand):
    help = "Load idempotent demo data; --appointments N adds N booked appointments in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--appointments", type=int, default=0, help="add N confirmed appointments over the coming year")
        parser.add_argument(
            "--demo-logins", action="store_true",
            help="give the demo agents and the 'admin' superuser the README's password even with DEBUG off "
                 "(manage.py check --deploy then reports them)",
        )

    def handle(self, *args, appointments, demo_logins=False, **options):
        if appointments < 0:
            raise CommandError("--appointments must be positive.")
        # Logins whose password is printed in the README are for development only: outside
        # DEBUG the demo accounts ('admin' and the agents) get no usable password, unless
        # asked for by name.
        with_logins = settings.DEBUG or demo_logins
        group = self.agents_group()
        with transaction.atomic():
            logins = self.base_data(group, with_logins=with_logins)
        if with_logins:
            self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        else:
            self.stdout.write("Demo agents, without password (DEBUG is off; --demo-logins to give them one):")
        for login in logins:
            self.stdout.write(f"  {login}")
        self.stdout.write(f"  {DEMO_SUPERUSER} (superuser)")
        if appointments:
            started = timezone.now()
            self.bulk_appointments(appointments)
            elapsed = (timezone.now() - started).total_seconds()
            self.stdout.write(f"Added {appointments} appointments in {elapsed:.1f} s.")

    def agents_group(self):
        group, _ = Group.objects.get_or_create(name=AGENTS_GROUP)
        wanted = [("appointments", f"{action}_{model}") for model, actions in AGENT_PERMISSIONS.items() for action in actions]
        wanted += EXTRA_PERMISSIONS
        perms = [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in wanted]
        group.permissions.set(perms)
        return group

    def base_data(self, group, with_logins=True):
        User = get_user_model()
        password = make_password(DEMO_PASSWORD if with_logins else None)  # None: an unusable password
        superuser, created = User.objects.get_or_create(
            username=DEMO_SUPERUSER,
            defaults={"email": "admin@demo.rdv.fr", "is_staff": True, "is_superuser": True, "password": password},
        )
        if with_logins and not created and not superuser.has_usable_password():
            superuser.password = password  # asked for: seeded earlier without one
            superuser.save(update_fields=["password"])
        logins = []
        organisations = {}
        today = timezone.localdate()
        for spec in ORGANISATIONS:
            org, _ = Organisation.objects.update_or_create(
                name=spec["name"], defaults={"brand": spec["brand"], "time_zone": spec.get("time_zone", "")}
            )
            organisations[org.name] = org
            places = [
                Place.objects.update_or_create(organisation=org, name=name, defaults={"address": address, "time_zone": tz})[0]
                for name, address, tz in spec["places"]
            ]
            motifs, services = [], []
            for (service_name, short_name), motif_specs in spec["services"].items():
                service, _ = Service.objects.update_or_create(organisation=org, name=service_name, defaults={"short_name": short_name})
                services.append(service)
                for name, duration, location_type, public, instructions in motif_specs:
                    motif, _ = Motif.objects.update_or_create(
                        organisation=org, service=service, name=name, location_type=location_type,
                        defaults={"default_duration_minutes": duration, "bookable_publicly": public, "instructions": instructions},
                    )
                    motifs.append(motif)
            for username, first, last in spec["agents"]:
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.rdv.fr", "is_staff": True, "password": password},
                )
                if with_logins and not created and not user.has_usable_password():
                    user.password = password  # asked for: a demo agent seeded earlier without one
                    user.save(update_fields=["password"])
                user.groups.add(group)
                agent, _ = Agent.objects.get_or_create(user=user)
                agent.organisations.add(org)
                agent.services.add(*services)
                logins.append(f"{username}  ({org.name})")
                if not agent.opening_hours.exists():
                    for start, end in ((time(9), time(12)), (time(13, 30), time(17))):
                        hours = OpeningHours(agent=agent, place=places[0], weekdays=[0, 1, 2, 3, 4],
                                             start_time=start, end_time=end, valid_from=today)
                        hours.save()
                        hours.motifs.set(motifs)
        for extra in EXTRA_DEMO_DATA:
            extra(organisations)
        return logins

    # --- Bulk appointments, for benchmarks -------------------------------------------

    def bench_agents(self, count, org, password):
        User = get_user_model()
        existing = list(Agent.objects.filter(user__username__startswith=BENCH_PREFIX).order_by("pk"))
        missing = count - len(existing)
        if missing > 0:
            start = len(existing)
            users = User.objects.bulk_create([
                User(username=f"{BENCH_PREFIX}{start + i:04d}", first_name="Agent", last_name=f"Banc {start + i}", password=password)
                for i in range(missing)
            ])
            new = Agent.objects.bulk_create([Agent(user=u) for u in users])
            Agent.organisations.through.objects.bulk_create([Agent.organisations.through(agent=a, organisation=org) for a in new])
            existing += new
        return existing[:count]

    def bulk_appointments(self, count):
        """N confirmed appointments over the coming 365 days, no agent double-booked.

        Appointment i (counted over every bench appointment so far) goes to bench agent
        i // S on its (i % S)-th half hour of weekdays 08:00-18:00, S being the slots an agent
        has in the year: the placement of earlier appointments never depends on how many are
        added later, so repeated runs add up without double-booking anyone. They are stored as
        already confirmed, not newly booked: `appointments_loaded`, not `appointment_confirmed`.
        """
        rng = random.Random(count)
        org = Organisation.objects.get(name=ORGANISATIONS[0]["name"])
        place = org.places.first()
        motifs = list(Motif.objects.filter(organisation=org, location_type=LocationType.ON_SITE))
        zone = place.zone
        now = timezone.now()
        first_day = timezone.localdate(now, zone) + timedelta(days=1)
        days = [first_day + timedelta(days=d) for d in range(365) if (first_day + timedelta(days=d)).weekday() < 5]
        slots_per_agent = len(days) * SLOTS_PER_DAY
        offset = AppointmentAgent.objects.filter(agent__user__username__startswith=BENCH_PREFIX).count()
        agents_needed = -(-(offset + count) // slots_per_agent)
        agents = self.bench_agents(max(agents_needed, 1), org, make_password(None))
        for batch_start in range(offset, offset + count, BATCH):
            batch_end = min(batch_start + BATCH, offset + count)
            with transaction.atomic():
                contacts = []
                for i in range(batch_start, batch_end):
                    contacts.append(Contact(
                        organisation=org, first_name=rng.choice(FIRST_NAMES), last_name=rng.choice(LAST_NAMES),
                        phone=f"+336{i % 100_000_000:08d}", email=f"usager{i}@exemple.fr",
                        sms_consent=True, email_consent=True, created_at=now,
                    ))
                contacts = Contact.objects.bulk_create(contacts)
                ConsentRecord.objects.bulk_create([
                    ConsentRecord(contact=c, channel=channel, granted=True, recorded_at=now, source=ConsentSource.AGENT,
                                  text_version=CONSENT_TEXT_VERSION)
                    for c in contacts for channel in (Channel.SMS, Channel.EMAIL)
                ])
                rows = []
                for i in range(batch_start, batch_end):
                    slot = i % slots_per_agent
                    day = days[(slot // SLOTS_PER_DAY) % len(days)]
                    minutes = (slot % SLOTS_PER_DAY) * SLOT_MINUTES
                    starts_at = datetime.combine(day, time(8), tzinfo=zone) + timedelta(minutes=minutes)
                    booked_at = now - timedelta(minutes=rng.randint(10, 60 * 24 * 60))
                    motif = motifs[i % len(motifs)]
                    rows.append(Appointment(
                        organisation=org, motif=motif, location_type=LocationType.ON_SITE, place=place,
                        starts_at=starts_at, duration_minutes=SLOT_MINUTES, ends_at=starts_at + timedelta(minutes=SLOT_MINUTES),
                        status=AppointmentStatus.CONFIRMED, booked_by=BookedBy.AGENT, booked_at=booked_at,
                        token=new_token(),
                    ))
                rows = Appointment.objects.bulk_create(rows)
                AppointmentAgent.objects.bulk_create([
                    AppointmentAgent(appointment=a, agent=agents[(batch_start + k) // slots_per_agent],
                                     starts_at=a.starts_at, ends_at=a.ends_at, active=True)
                    for k, a in enumerate(rows)
                ])
                Participation.objects.bulk_create([Participation(appointment=a, contact=c) for a, c in zip(rows, contacts, strict=True)])
                # Whatever is planned ahead for confirmed appointments (their reminders) is
                # planned by whoever listens, as decided when each was booked.
                signals.appointments_loaded.send(sender=Appointment, appointments=rows)
            self.stdout.write(f"  {batch_end - offset}/{count}", ending="\r")
            self.stdout.flush()
        self.stdout.write("")
