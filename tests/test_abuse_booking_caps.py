"""A public calendar cannot be booked out (issue 10, item 3): a cap per phone number and per email
address for one service, and the surge defence — public bookings of one motif's week per hour,
whatever the number of source addresses (measured with real processes: bench/booking_surge.py)."""

from appointments.models import Appointment, BookedBy

from .public_pages import book, first_slot_url, text


def book_as(client, demo, n, **data):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    return book(client, url, {"phone": f"06 12 00 00 {n:02d}", "email": f"usager{n}@exemple.fr", **data},
                REMOTE_ADDR=f"203.0.113.{n + 1}")


def test_one_phone_number_holds_at_most_two_future_appointments_of_a_service(demo, client):
    answers = [book_as(client, demo, n, phone="06 99 88 77 66").status_code for n in range(3)]
    assert answers == [302, 302, 409]
    assert Appointment.objects.count() == 2


def test_one_email_address_holds_at_most_two_whatever_its_case(demo, client):
    answers = [book_as(client, demo, n, email="Victime@Exemple.fr" if n % 2 else "victime@exemple.fr").status_code
               for n in range(3)]
    assert answers == [302, 302, 409]
    response = book_as(client, demo, 9, email="victime@exemple.fr")
    assert "Vous avez déjà 2 rendez-vous à venir pour ce service" in text(response)


def test_a_cancelled_or_agent_cancelled_appointment_frees_the_place(demo, client):
    from appointments import services

    for n in range(2):
        assert book_as(client, demo, n, phone="06 99 88 77 66").status_code == 302
    services.cancel(Appointment.objects.first(), actor=BookedBy.CITIZEN)
    assert book_as(client, demo, 5, phone="06 99 88 77 66").status_code == 302


def test_the_surge_cap_stops_many_addresses_booking_one_motifs_week(demo, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_motif_week": (5, 3600)}
    answers = [book_as(client, demo, n).status_code for n in range(8)]  # 8 addresses, 8 numbers
    assert answers == [302] * 5 + [429] * 3
    assert Appointment.objects.count() == 5
    # Agents still book that week.
    demo.book(days=1, hour=16)
    assert Appointment.objects.count() == 6


def test_the_surge_cap_counts_per_week(demo, client, settings):
    from datetime import timedelta

    from .public_pages import links, slot_start

    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_motif_week": (1, 3600)}

    def week_urls(day):
        page = client.get(f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&semaine={day.isoformat()}")
        return links(page, "/reserver/coordonnees/")

    urls = week_urls(slot_start(first_slot_url(client, demo.cni, demo.lyon_place)).date() + timedelta(weeks=1))
    same_day = [u for u in urls if slot_start(u).date() == slot_start(urls[0]).date()]
    assert len(same_day) >= 2
    data = [{"phone": f"06 12 00 00 {n}", "email": f"u{n}@exemple.fr"} for n in (31, 32, 33)]
    assert book(client, same_day[0], data[0], REMOTE_ADDR="203.0.113.31").status_code == 302
    assert book(client, same_day[1], data[1], REMOTE_ADDR="203.0.113.32").status_code == 429
    # Two weeks on: another week, its own count.
    later = week_urls(slot_start(same_day[0]).date() + timedelta(weeks=2))
    assert book(client, later[0], data[2], REMOTE_ADDR="203.0.113.33").status_code == 302
