"""The abuse test of issue 10 ("Done means"), items 2, 3 and 5, with real processes: gunicorn,
a Celery worker and the Twilio stand-in in its own process, counting what reaches it.

Replayed: spoofed X-Real-IP / X-Forwarded-For from one address, one victim number from 8
addresses, 20 source addresses (127.0.0.2–127.0.0.21, loopback, each client socket bound to its
own) × 3 bookings with distinct numbers under SMS_BUDGET_PUBLIC_PER_HOUR=40, far-future and
year-9999 starts. Each is refused cleanly, and nothing stored is lost: every booking answered
302 is in the database with its SMS record, sent or 'limited' with its reason."""

import html
import random
import re
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, BookedBy
from notifications.models import Notification, Status

from .servers import REDIS_URL
from .support.httpjson import session_from
from .support.processes import GunicornProcess, celery_worker, flush_redis, process_env, twilio_standin_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SLOT_LINK = re.compile(r'href="(/reserver/coordonnees/\?[^"]+)"')
VICTIM = "+33699887766"


class Citizen:
    """A browser at one source address, booking through the public pages."""

    def __init__(self, server, address, motif, place):
        self.server, self.session = server, session_from(address)
        self.slots = f"{server.url}/reserver/creneau/?motif={motif.pk}&lieu={place.pk}"

    def post(self, url, data, **headers):
        form = self.session.get(url, timeout=20, headers=headers)
        token = CSRF.search(form.text) or getattr(self, "token", None)
        self.token = token
        # Production cookies are Secure; this is plain HTTP on loopback: sent by hand.
        cookies = {name: self.session.cookies.get(name) for name in ("csrftoken", "sessionid") if self.session.cookies.get(name)}
        return self.session.post(url, data={"csrfmiddlewaretoken": token.group(1) if token else "", **data}, cookies=cookies,
                                 timeout=20, allow_redirects=False, headers=headers)

    def book(self, phone, email, **headers):
        """The answer's status; a slot taken meanwhile (409) is tried again elsewhere."""
        for _ in range(5):
            week = timezone.localdate() + timedelta(weeks=random.randrange(11))
            page = self.session.get(f"{self.slots}&semaine={week.isoformat()}", timeout=20, headers=headers)
            assert page.status_code == 200, page.status_code
            links = SLOT_LINK.findall(page.text)
            if not links:
                continue
            url = self.server.url + html.unescape(random.choice(links))
            answer = self.post(url, {"first_name": "Léa", "last_name": "Dupont", "phone": phone, "email": email,
                                     "confirmer": "1"}, **headers)
            if answer.status_code != 409 or "Vous avez déjà" in answer.text:
                return answer.status_code
        return 409


def test_the_public_pages_under_abuse(demo, settings):
    motif, place = demo.cni, demo.lyon_place
    flush_redis()
    with twilio_standin_process() as twilio:
        env = process_env(**twilio.settings(), CACHE_URL=REDIS_URL, SMS_BUDGET_PUBLIC_PER_HOUR="40",
                          # The surge cap would stop this test long before the SMS budget does:
                          # it has its own tests and its measurement (bench/booking_surge.py).
                          RATE_LIMIT_BOOK_MOTIF_WEEK="10000/3600",
                          EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                          SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0",
                          # rdv.settings with static files read as they are (no collected manifest).
                          DJANGO_SETTINGS_MODULE="bench.settings")
        with celery_worker(env, concurrency=2) as worker, GunicornProcess(env, workers=3) as server:
            server.wait_ready()
            answers = {}

            # One victim number from 8 addresses, each with its own email.
            answers["victim"] = [Citizen(server, f"127.0.0.{40 + n}", motif, place).book(VICTIM, f"v{n}@exemple.fr")
                                 for n in range(8)]

            # One address rotating X-Forwarded-For and X-Real-IP: one address for the limits.
            spoofer = Citizen(server, "127.0.0.30", motif, place)
            answers["spoofed"] = [spoofer.book(f"+336110000{n:02d}", f"s{n}@exemple.fr",
                                               **{"X-Forwarded-For": f"10.0.{n}.1, 10.1.{n}.2", "X-Real-IP": f"10.2.{n}.3"})
                                  for n in range(12)]

            # 20 addresses × 3 bookings with distinct numbers, all at once.
            lock = threading.Lock()
            answers["crowd"] = []

            def crowd(index):
                citizen = Citizen(server, f"127.0.0.{index + 2}", motif, place)
                for n in range(3):
                    status = citizen.book(f"+33612{index:02d}{n:04d}", f"c{index}-{n}@exemple.fr")
                    with lock:
                        answers["crowd"].append(status)

            threads = [threading.Thread(target=crowd, args=(i,)) for i in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

            # Far-future and year-9999 starts, on every step.
            crafty = Citizen(server, "127.0.0.50", motif, place)
            # A form of a real slot first, for the CSRF token a crafted URL's page does not give.
            real = SLOT_LINK.findall(crafty.session.get(crafty.slots, timeout=20).text)[0]
            crafty.post(server.url + html.unescape(real), {"first_name": "Léa"})
            far = (timezone.now() + timedelta(weeks=40)).strftime("%Y-%m-%dT08:00Z")
            answers["window"] = [
                crafty.post(f"{server.url}/reserver/coordonnees/?motif={motif.pk}&lieu={place.pk}&debut={debut}",
                            {"first_name": "Léa", "last_name": "Dupont", "phone": "+33612999999", "confirmer": "1"}).status_code
                for debut in (far, "9999-12-31T08:00Z")
            ]
            worker.wait_idle(timeout=60)
        accepted = twilio.messages

    # Refused cleanly: 302 (booked), 429 (a limit), 409 (the per-number cap) or 400 — never a 5xx.
    assert answers["victim"][:2] == [302, 302] and set(answers["victim"][2:]) <= {409, 429}
    assert answers["spoofed"].count(302) == 10 and answers["spoofed"][10:] == [429, 429]
    assert answers["crowd"].count(302) == 60
    assert answers["window"] == [400, 400]

    # What reached the stand-in: the hour's public budget, and the victim's own limit.
    assert len(accepted) <= 40
    assert sum(m.to == VICTIM for m in accepted) <= 6
    assert sum(m.to == VICTIM for m in accepted) == 2  # both of the victim's bookings were within budget

    # Nothing stored lost: every booking is there, each with its SMS record, sent or withheld.
    booked = sum(status == 302 for phase in ("victim", "spoofed", "crowd") for status in answers[phase])
    assert Appointment.objects.filter(booked_by=BookedBy.CITIZEN).count() == booked == 72
    sms = Notification.objects.filter(channel="sms", contact__isnull=False)
    assert sms.count() == booked
    assert sms.filter(status__in=[Status.SENT, Status.DELIVERED]).count() == len(accepted) == 40
    assert sms.filter(status=Status.LIMITED, error_code="public_budget").count() == booked - 40
    assert not Appointment.objects.filter(starts_at__gt=timezone.now() + timedelta(weeks=13)).exists()
