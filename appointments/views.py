"""The citizens' public pages: booking without an account, and the appointment link page.

Between steps, the state travels in GET parameters holding only non-personal ids (service,
motif, place, slot start). Contact details are only ever POSTed; the confirmation page finds
the new appointment through the session. Every response is private and never stored by
shared caches.
"""

import re
from datetime import date, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import page_cache, ratelimit, reach, services, slots
from .models import (
    Agent,
    Appointment,
    AppointmentStatus,
    BookedBy,
    ConsentSource,
    LocationType,
    Motif,
    Place,
    Service,
)
from .public_forms import CancelForm, ContactDetailsForm, InitialsForm, UnsubscribeForm, blank_initials_form_html
from .zones import zone_for

BOOKING_STEPS = 6
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,16}")
SESSION_VERIFIED = "verified_links"  # tokens whose initials were confirmed in this session
SESSION_BOOKED = "booked_token"  # the appointment just booked, for the confirmation page
SESSION_CANCELLED = "cancelled_token"  # the appointment just cancelled, for a message
SESSION_UNSUBSCRIBED = "unsubscribed"  # [token, channel] just opted out, for a message


def private(view):
    """Pages for one citizen: never kept by shared caches, no Referer sent to other sites.

    "same-origin" rather than "no-referrer": with no-referrer, browsers send "Origin: null"
    on our own form posts, which Django's CSRF protection rightly refuses."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        patch_cache_control(response, private=True, no_store=True)
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapped


def rate_limited(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ratelimit.RateLimited as error:
            return ratelimit.rate_limited_response(request, error)

    return wrapped


# --- Parameters -------------------------------------------------------------------------------


def _id_param(request, name, required=True):
    value = request.GET.get(name, "")
    if not value and not required:
        return None
    if not _is_id(value):
        raise Http404
    return int(value)


def _is_id(value):
    # isascii: "²" is a digit to str.isdigit, not to int().
    return value.isascii() and value.isdigit() and len(value) <= 18


# --- Cache keys of the pages every citizen sees alike (appointments/page_cache.py) ----------------
# Built from the raw parameters, without a query: None when they are not plain ids (the view
# then answers, usually 404, uncached). Ids are written canonically ("007" is "7"), as the
# versions replaced on a change name them.


def _canonical_id(request, name):
    value = request.GET.get(name, "")
    return str(int(value)) if _is_id(value) else None


def _home_key(request):
    return "home", [page_cache.CATALOGUE]


def _motifs_key(request):
    service = _canonical_id(request, "service")
    return None if service is None else (f"motifs:{service}", [page_cache.CATALOGUE])


def _places_key(request):
    motif = _canonical_id(request, "motif")
    return None if motif is None else (f"places:{motif}", [page_cache.CATALOGUE])


def _slots_key(request):
    motif = _canonical_id(request, "motif")
    place = _canonical_id(request, "lieu") if request.GET.get("lieu") else "0"
    week = request.GET.get("semaine", "")
    if motif is None or place is None or len(week) > 10 or not set(week) <= set("0123456789-"):
        return None
    return f"slots:{motif}:{place}:{week}", [page_cache.CATALOGUE, page_cache.slot_version_key(motif, place)]


def _public_motif(request):
    motif = (
        Motif.objects.select_related("service", "organisation")
        .filter(pk=_id_param(request, "motif"), bookable_publicly=True, active=True)
        .first()
    )
    if motif is None:
        raise Http404
    return motif


def _place_for(request, motif):
    """The place chosen for an on-site motif (None for the other kinds)."""
    if motif.location_type != LocationType.ON_SITE:
        return None
    place = Place.objects.select_related("organisation").filter(
        pk=_id_param(request, "lieu"), organisation_id=motif.organisation_id
    ).first()
    if place is None:
        raise Http404
    return place


def _zone(motif, place):
    """Where times are shown: the zone the appointment will have (appointments/zones.py)."""
    return zone_for(motif.organisation, place)


def _query(motif, place, **extra):
    params = {"motif": motif.pk}
    if place is not None:
        params["lieu"] = place.pk
    params.update(extra)
    return "?" + urlencode(params)


def _steps(current, title, next_title=""):
    return {"current_step_id": current, "total_steps": BOOKING_STEPS, "current_step_title": title, "next_step_title": next_title}


# --- Booking path ----------------------------------------------------------------------------


@private
@require_http_methods(["GET", "HEAD"])
@page_cache.cached_page(_home_key)
def home(request):
    """Step 1: the services that citizens can book online, by organisation."""
    services_list = (
        Service.objects.filter(motifs__bookable_publicly=True, motifs__active=True)
        .select_related("organisation").distinct().order_by("organisation__name", "name")
    )
    return render(request, "appointments/public/home.html", {
        "title": _("Prendre rendez-vous"), "services": services_list,
        "steps": _steps(1, _("Choisir un service"), _("Choisir le motif du rendez-vous")),
    })


@private
@require_http_methods(["GET", "HEAD"])
@page_cache.cached_page(_motifs_key)
def choose_motif(request):
    service = Service.objects.select_related("organisation").filter(pk=_id_param(request, "service")).first()
    if service is None:
        raise Http404
    motifs = service.motifs.filter(bookable_publicly=True, active=True).order_by("name")
    if not motifs:
        raise Http404
    return render(request, "appointments/public/motif.html", {
        "title": _("Motif du rendez-vous"), "service": service, "motifs": motifs,
        "steps": _steps(2, _("Choisir le motif du rendez-vous"), _("Choisir le lieu")),
    })


@private
@require_http_methods(["GET", "HEAD"])
@page_cache.cached_page(_places_key)
def choose_place(request):
    motif = _public_motif(request)
    if motif.location_type != LocationType.ON_SITE:
        # Nothing to choose: the appointment happens at home, by phone or by video.
        return redirect(reverse("booking_slots") + _query(motif, None))
    places = Place.objects.filter(opening_hours__motifs=motif, organisation_id=motif.organisation_id).distinct().order_by("name")
    return render(request, "appointments/public/place.html", {
        "title": _("Lieu du rendez-vous"), "motif": motif, "places": places,
        "steps": _steps(3, _("Choisir le lieu"), _("Choisir un créneau")),
    })


def _week_start(request, today):
    value = request.GET.get("semaine", "")
    if not value:
        return today
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Http404 from None
    if not today <= day <= today + timedelta(weeks=settings.BOOKING_MAX_WEEKS_AHEAD):
        raise Http404
    return day


def _slots_context(request, motif, place, first_day, now):
    """Seven days of free slots from `first_day`, and the links to move through weeks."""
    zone = _zone(motif, place)
    today = timezone.localdate(now, zone)
    week = slots.free_slots(motif, place=place, first_day=first_day, days=7, now=now, display_zone=zone)
    last_day = today + timedelta(weeks=settings.BOOKING_MAX_WEEKS_AHEAD)
    next_day = first_day + timedelta(days=7)
    context = {
        "motif": motif, "place": place, "zone": zone, "days": week, "first_day": first_day,
        "has_slots": any(day_slots for _, day_slots in week),
        "contact_url": reverse("booking_contact") + _query(motif, place),
        "next_week_url": reverse("booking_slots") + _query(motif, place, semaine=next_day.isoformat()) if next_day <= last_day else "",
        "previous_week_url": "",
        "next_available": None,
    }
    if first_day > today:
        previous = max(today, first_day - timedelta(days=7))
        context["previous_week_url"] = reverse("booking_slots") + _query(motif, place, semaine=previous.isoformat())
    if not context["has_slots"] and next_day <= last_day:
        remaining_weeks = max(1, (last_day - next_day).days // 7 + 1)
        found = slots.first_day_with_slots(motif, place=place, from_day=next_day, now=now, display_zone=zone, weeks=remaining_weeks)
        if found:
            context["next_available"] = found
            context["next_available_url"] = reverse("booking_slots") + _query(motif, place, semaine=found.isoformat())
    return context


@private
@require_http_methods(["GET", "HEAD"])
@page_cache.cached_page(_slots_key)
def choose_slot(request):
    """Step 4: the free slots of a week, day by day, in the place's local time."""
    motif = _public_motif(request)
    if motif.location_type != LocationType.ON_SITE and "lieu" in request.GET:
        # No place to choose for this motif: one address for its page (and its cache entry,
        # whose version is the motif's without a place).
        week = {"semaine": request.GET["semaine"]} if request.GET.get("semaine") else {}
        return redirect(reverse("booking_slots") + _query(motif, None, **week))
    place = _place_for(request, motif)
    now = timezone.now()
    first_day = _week_start(request, timezone.localdate(now, _zone(motif, place)))
    context = _slots_context(request, motif, place, first_day, now)
    context.update(title=_("Choisir un créneau"), steps=_steps(4, _("Choisir un créneau"), _("Vos coordonnées")))
    return render(request, "appointments/public/slots.html", context)


def _outside_window(request, motif, place, now):
    """A start the slot page never offers (too soon, too far ahead, year 9999): refused with the
    rule, and this week's slots."""
    first_day = timezone.localdate(now, _zone(motif, place))
    context = _slots_context(request, motif, place, first_day, now)
    context.update(
        title=_("Ce créneau n'est pas proposé"), slot_outside_window=True,
        min_lead_minutes=settings.BOOKING_MIN_LEAD_MINUTES, max_weeks=settings.BOOKING_MAX_WEEKS_AHEAD,
        steps=_steps(4, _("Choisir un créneau"), _("Vos coordonnées")),
    )
    return render(request, "appointments/public/slots.html", context, status=400)


def _slot_taken(request, motif, place, starts_at, now, taken=True):
    """The slot went to someone else (or has passed): say so plainly and show other slots."""
    zone = _zone(motif, place)
    first_day = max(timezone.localdate(now, zone), starts_at.astimezone(zone).date())
    context = _slots_context(request, motif, place, first_day, now)
    context.update(
        title=_("Ce créneau n'est plus disponible"), slot_taken=taken, slot_gone=not taken,
        steps=_steps(4, _("Choisir un créneau"), _("Vos coordonnées")),
    )
    return render(request, "appointments/public/slots.html", context, status=409)


@private
@rate_limited
@require_http_methods(["GET", "HEAD", "POST"])
def contact_details(request):
    """Steps 5 and 6: contact details (POSTed, never in the URL), then confirmation."""
    motif = _public_motif(request)
    place = _place_for(request, motif)
    starts_at = slots.parse_slot_param(request.GET.get("debut"))
    if starts_at is None:
        raise Http404
    now = timezone.now()
    zone = _zone(motif, place)
    if not slots.within_booking_window(starts_at, zone, now):
        return _outside_window(request, motif, place, now)
    slot = slots.find_slot(motif, starts_at, place=place, now=now, display_zone=zone)
    if slot is None:
        # Confirming: someone else took it meanwhile. Just arriving: it may also have passed.
        return _slot_taken(request, motif, place, starts_at, now, taken="confirmer" in request.POST)

    context = {"motif": motif, "place": place, "slot": slot, "zone": zone, "location_type": motif.get_location_type_display()}
    if request.method != "POST":
        form = ContactDetailsForm(motif=motif)
    else:
        form = ContactDetailsForm(request.POST, motif=motif)
        if form.is_valid() and "confirmer" in request.POST:
            return _book(request, form, motif, place, slot, now)
        if form.is_valid() and "modifier" not in request.POST:
            told, warning = reach.sentences(form.probe_contact(), slot.starts_at, now=now, motif=motif, place=place)
            context.update(title=_("Confirmer le rendez-vous"), form=form, told=told, told_warning=warning,
                           steps=_steps(6, _("Vérifier et confirmer")))
            return render(request, "appointments/public/recap.html", context)
        if "modifier" in request.POST:
            form = ContactDetailsForm(initial=request.POST.dict(), motif=motif)
    context.update(title=_("Vos coordonnées"), form=form,
                   back_url=reverse("booking_slots") + _query(motif, place, semaine=slot.local_starts_at.date().isoformat()),
                   steps=_steps(5, _("Vos coordonnées"), _("Vérifier et confirmer")))
    return render(request, "appointments/public/contact.html", context)


def _future_bookings(motif, now, **contact):
    return Appointment.objects.filter(
        motif__service_id=motif.service_id, status=AppointmentStatus.CONFIRMED, starts_at__gt=now,
        **{f"contacts__{field}": value for field, value in contact.items()},
    ).distinct().count()


def _over_contact_cap(form, motif, now):
    """At most PUBLIC_BOOKINGS_PER_CONTACT future appointments per phone number and per email
    for one service: one person cannot hold a service's calendar."""
    cap = settings.PUBLIC_BOOKINGS_PER_CONTACT
    phone, email = form.cleaned_data.get("phone"), form.cleaned_data.get("email")
    return (phone and _future_bookings(motif, now, phone=phone.as_e164) >= cap) or (
        email and _future_bookings(motif, now, email__iexact=email) >= cap)


def _surge_key(motif, slot):
    """A motif's local week: what the surge cap counts public bookings in."""
    day = slot.local_starts_at.date()
    return f"{motif.pk}:{(day - timedelta(days=day.weekday())).isoformat()}"


def _book(request, form, motif, place, slot, now):
    ratelimit.hit("book_ip", ratelimit.client_address(request))
    if form.cleaned_data.get("phone"):
        ratelimit.hit("book_phone", form.cleaned_data["phone"].as_e164)
    if _over_contact_cap(form, motif, now):
        form.add_error(None, _(
            "Vous avez déjà %(count)s rendez-vous à venir pour ce service avec ce numéro ou cette adresse e-mail. "
            "Pour en prendre un autre, annulez d'abord l'un d'eux depuis le lien reçu, ou contactez le service."
        ) % {"count": settings.PUBLIC_BOOKINGS_PER_CONTACT})
        return render(request, "appointments/public/contact.html", {
            "title": _("Vos coordonnées"), "form": form, "motif": motif, "place": place, "slot": slot,
            "zone": slot.zone, "location_type": motif.get_location_type_display(),
            "back_url": reverse("booking_slots") + _query(motif, place, semaine=slot.local_starts_at.date().isoformat()),
            "steps": _steps(5, _("Vos coordonnées"), _("Vérifier et confirmer")),
        }, status=409)
    # The surge defence: however many addresses a bot has, public bookings of one motif's week
    # are capped per hour (the week's calendar cannot be emptied in minutes); agents still book.
    ratelimit.hit("book_motif_week", _surge_key(motif, slot))
    agents = {agent.pk: agent for agent in Agent.objects.filter(pk__in=slot.agent_ids)}
    appointment = None
    try:
        with transaction.atomic():
            contact = form.save_contact(motif.organisation)
            for agent_id in slot.agent_ids:
                try:
                    appointment = services.book(
                        motif=motif, place=place, starts_at=slot.starts_at, agents=[agents[agent_id]], contacts=[contact],
                        booked_by=BookedBy.CITIZEN, address=form.cleaned_data.get("address") or "", now=now,
                    )
                    break
                except services.SlotUnavailable:
                    continue
            if appointment is None:
                raise services.SlotUnavailable()
    except services.SlotUnavailable:
        return _slot_taken(request, motif, place, slot.starts_at, timezone.now())
    request.session.cycle_key()
    request.session[SESSION_BOOKED] = appointment.token
    _remember_verified(request, appointment.token)
    return redirect("booking_done")


@private
@require_http_methods(["GET", "HEAD"])
def booking_done(request):
    """The confirmation: the appointment summed up as the confirmation email does. Shown once:
    on a shared computer (a France services desk) the next person opening this address sees
    the booking page, not the previous citizen's appointment and its cancel button."""
    token = request.session.pop(SESSION_BOOKED, None)
    appointment = _valid_appointment(token) if token else None
    if appointment is None:
        return redirect("booking_home")
    contact = appointment.contacts.first()
    told, warning = reach.sentences(contact, appointment.starts_at, now=appointment.booked_at, motif=appointment.motif,
                                  place=appointment.place)
    return render(request, "appointments/public/done.html", {
        "title": _("Rendez-vous confirmé"), "appointment": appointment, "contact": contact,
        "starts": appointment.local_starts_at, "link": appointment.link_url(), "told": told, "told_warning": warning,
    })


# --- The appointment link page ------------------------------------------------------------------


def _valid_appointment(token, *, details=True):
    """The appointment of a well-formed, known token still within its validity, else None.

    Without `details`, only what the link page shows before the initials (date and time in the
    right zone, kind, status): the page an SMS opens, often by thousands at once."""
    if not token or not TOKEN_PATTERN.fullmatch(token):
        return None
    appointments = Appointment.objects.filter(token=token)
    if details:
        appointments = appointments.select_related("motif__service", "place__organisation", "organisation")
    else:
        appointments = appointments.select_related("place__organisation", "organisation").only(
            "token", "starts_at", "ends_at", "status", "location_type",
            "place__time_zone", "place__organisation__time_zone", "organisation__time_zone",
        )
    try:
        # get(), not first(): the token is unique, and first() would add an ORDER BY.
        appointment = appointments.get()
    except Appointment.DoesNotExist:
        return None
    if timezone.now() > appointment.ends_at + timedelta(days=settings.LINK_VALID_DAYS_AFTER):
        return None
    return appointment


def _appointment_or_404(token, *, details=True):
    appointment = _valid_appointment(token, details=details)
    if appointment is None:
        raise Http404
    return appointment


def _is_verified(request, token):
    return token in request.session.get(SESSION_VERIFIED, [])


def _remember_verified(request, token):
    verified = request.session.get(SESSION_VERIFIED, [])
    if token not in verified:
        # Only the last few, so the session stays small.
        request.session[SESSION_VERIFIED] = (verified + [token])[-20:]


@private
@rate_limited
@require_http_methods(["GET", "HEAD", "POST"])
def appointment_link(request, token):
    """The "lien utile": date, time and type first; the rest once the initials are confirmed."""
    verified = _is_verified(request, token)
    appointment = _appointment_or_404(token, details=verified)
    form = form_html = None
    if not verified:
        if request.method == "POST":
            address = ratelimit.client_address(request)
            ratelimit.hit("initials_ip", address)
            # Per link *and* address: a stranger guessing from elsewhere never locks the owner
            # out of their own link (the per-address limit bounds what each guesser tries).
            ratelimit.hit("initials_token", f"{token}|{address}")
            form = InitialsForm(request.POST, contacts=list(appointment.contacts.all()))
            if form.is_valid():
                # A new session key once it unlocks personal details: a key planted before
                # (session fixation) or seen on a shared computer is worth nothing now.
                request.session.cycle_key()
                _remember_verified(request, token)
                return redirect("appointment_link", token=token)
        else:
            form_html = blank_initials_form_html()
    just_cancelled = request.session.pop(SESSION_CANCELLED, None) == token
    unsubscribed = request.session.pop(SESSION_UNSUBSCRIBED, None)
    contacts = list(appointment.contacts.all()) if verified else []
    return render(request, "appointments/public/link.html", {
        "title": _("Votre rendez-vous"), "appointment": appointment, "verified": verified, "form": form, "form_html": form_html,
        "starts": appointment.local_starts_at, "cancellable": appointment.is_cancellable(),
        "is_past": appointment.starts_at <= timezone.now(), "just_cancelled": just_cancelled,
        "receives_sms": any(c.sms_consent for c in contacts), "receives_email": any(c.email_consent for c in contacts),
        "just_unsubscribed": unsubscribed[1] if unsubscribed and unsubscribed[0] == token else None,
    })


@private
@require_http_methods(["GET", "HEAD"])
def appointment_rebook(request, token):
    """"Reprendre rendez-vous", offered after a cancellation (SMS, email, link page): the public
    booking pages of the same motif, at the same place for an on-site one. Nothing personal is
    shown, so no initials are asked; a motif no longer booked online leads to the home page."""
    appointment = _appointment_or_404(token)
    motif = appointment.motif
    if not (motif.bookable_publicly and motif.active):
        return redirect("booking_home")
    if motif.location_type == LocationType.ON_SITE and appointment.place_id:
        return redirect(reverse("booking_slots") + _query(motif, appointment.place))
    return redirect(reverse("booking_place") + _query(motif, None))


@private
@rate_limited
@require_http_methods(["POST"])
def appointment_unsubscribe(request, token):
    """"Ne plus recevoir de SMS / d'e-mails": French business SMS come from senders that
    cannot take a STOP reply, so this is the way out, recorded like any withdrawal. The
    notifications' side puts the number or address on its suppression list, so that a later
    booking with the same details stays silent too."""
    appointment = _appointment_or_404(token)
    if not _is_verified(request, token):
        return redirect("appointment_link", token=token)
    ratelimit.hit("cancel_ip", ratelimit.client_address(request))
    form = UnsubscribeForm(request.POST)
    if not form.is_valid():
        return redirect("appointment_link", token=token)
    channel = form.cleaned_data["channel"]
    for contact in appointment.contacts.all():
        if contact.has_consent(channel):
            contact.record_consent(channel, False, source=ConsentSource.UNSUBSCRIBE)
    request.session[SESSION_UNSUBSCRIBED] = [token, channel]
    return redirect("appointment_link", token=token)


@private
@rate_limited
@require_http_methods(["GET", "HEAD", "POST"])
def appointment_cancel(request, token):
    """Cancel, after a confirmation step; only once the initials are confirmed."""
    appointment = _appointment_or_404(token)
    if not _is_verified(request, token):
        return redirect("appointment_link", token=token)
    error = None
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        ratelimit.hit("cancel_ip", ratelimit.client_address(request))
        if form.is_valid():
            try:
                services.cancel(appointment, actor=BookedBy.CITIZEN)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                request.session[SESSION_CANCELLED] = token
                return redirect("appointment_link", token=token)
    if error is None and not appointment.is_cancellable():
        error = _cancel_refusal(appointment)
    return render(request, "appointments/public/cancel.html", {
        "title": _("Annuler le rendez-vous"), "appointment": appointment, "starts": appointment.local_starts_at,
        "form": form, "error": error,
    }, status=409 if error and request.method == "POST" else 200)


def _cancel_refusal(appointment):
    if appointment.is_cancelled:
        return _("Ce rendez-vous est déjà annulé.")
    if appointment.starts_at <= timezone.now():
        return _("Ce rendez-vous est passé : il ne peut plus être annulé.")
    return _("Ce rendez-vous ne peut plus être annulé en ligne.")
