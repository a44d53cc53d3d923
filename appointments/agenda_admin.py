"""The agenda page of the admin (AppointmentAdmin.get_urls routes it): reading the request's
parameters, scoping them to the agent's organisations, and rendering the agenda.

Parameters, all optional and all in the URL (a bookmark or the browser's back button shows
the same agenda): `agent`, `vue` (jour / semaine), `date` (YYYY-MM-DD), `lieu`, `motif`,
and `avec` (the colleagues shown beside the agent; `choix` says the agent chose them,
otherwise every colleague of the same services is shown).

An appointment opened from the agenda carries `next` (the agenda's URL), so that saving it
(rescheduling, cancelling) comes back to the same week; `return_url()` checks it.
"""

from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from . import agenda, dates
from .models import Agent, Place

RETURN_FIELD = "next"


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date(value):
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def return_url(request):
    """Where to go back after saving an appointment (`?next=`, set by the agenda's links): a
    URL of this site only, never another host's, whatever the parameter says; None otherwise."""
    url = request.GET.get(RETURN_FIELD, "")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return None


def agenda_url(*, agent, day=None, view=agenda.WEEK, place=None, motif=None):
    params = {"agent": agent.pk, "vue": view}
    if day is not None:
        params["date"] = day.isoformat()
    if place is not None:
        params["lieu"] = place.pk
    if motif is not None:
        params["motif"] = motif.pk
    return reverse("admin:appointments_appointment_agenda") + "?" + urlencode(params)


def agenda_view(model_admin, request):
    from .admin import agent_of, scope  # the admin module imports this one

    if not model_admin.has_view_permission(request):
        raise Http404
    agents_in_scope = scope(Agent.objects.select_related("user"), request, "organisations").distinct()
    all_agents = list(agents_in_scope.order_by("user__last_name", "user__first_name"))
    by_id = {a.pk: a for a in all_agents}
    own = agent_of(request)
    agent = by_id.get(_int(request.GET.get("agent"))) or by_id.get(own.pk if own else None)
    agent = agent or (all_agents[0] if all_agents else None)
    if agent is None:
        raise Http404

    colleagues = list(agents_in_scope.filter(services__in=agent.services.all()).exclude(pk=agent.pk).distinct()
                      .order_by("user__last_name", "user__first_name"))
    if request.GET.get("choix"):
        wanted = {_int(v) for v in request.GET.getlist("avec")}
        shown_colleagues = [c for c in colleagues if c.pk in wanted]
    else:
        shown_colleagues = colleagues
    shown = [agent, *shown_colleagues]

    # The agenda's place sets its time zone (overseas places their own); the agent's places
    # first, those where they have opening hours.
    places = list(scope(Place.objects.select_related("organisation"), request)
                  .filter(organisation__in=agent.organisations.all()).order_by("name"))
    with_hours = set(agent.opening_hours.values_list("place_id", flat=True))
    places.sort(key=lambda p: (p.pk not in with_hours, p.name))
    place = next((p for p in places if p.pk == _int(request.GET.get("lieu"))), places[0] if places else None)
    zone = place.zone if place is not None else ZoneInfo(settings.TIME_ZONE)

    now = timezone.now()
    today = timezone.localdate(now, zone)
    day = _date(request.GET.get("date")) or today
    view = agenda.DAY if request.GET.get("vue") == agenda.DAY else agenda.WEEK
    days = agenda.period(view, day)

    motifs = agenda.motifs_of([a.pk for a in shown], place)
    motif = next((m for m in motifs if m.pk == _int(request.GET.get("motif"))), motifs[0] if motifs else None)

    result = agenda.build(shown, days, place=place, zone=zone, motif=motif, now=now)
    rows = [(d, cells) for d, cells in result.rows
            if view == agenda.DAY or d.weekday() < 5 or any(cell.items for cell in cells)]

    base = {"agent": agent.pk, "vue": view}
    if place is not None:
        base["lieu"] = place.pk
    if motif is not None:
        base["motif"] = motif.pk
    if request.GET.get("choix"):
        base["choix"] = 1
    colleague_params = [("avec", c.pk) for c in shown_colleagues]

    def link(**changes):
        params = {**base, **changes}
        return "?" + urlencode([*params.items(), *colleague_params])

    step = timedelta(days=1 if view == agenda.DAY else 7)
    back = urlencode({RETURN_FIELD: reverse("admin:appointments_appointment_agenda") + link(date=day.isoformat())})
    add_url = reverse("admin:appointments_appointment_add")
    for _day, cells in rows:
        for cell in cells:
            for item in cell.items:
                if item.is_free:
                    params = agenda.booking_params(item, cell.agent, motif, place)
                    item.url = add_url + "?" + urlencode({**params, "retour": "agenda"})
                    item.label = _("Réserver le %(when)s avec %(agent)s") % {
                        "when": dates.french_datetime(item.starts_at), "agent": cell.agent}
                else:
                    # Rescheduling or cancelling brings the agent back to this week (or day).
                    change_url = reverse("admin:appointments_appointment_change", args=[item.appointment.pk])
                    item.url = f"{change_url}?{back}"

    if view == agenda.DAY:
        heading = dates.french_date(days[0])
    else:
        heading = _("Semaine du %(first)s au %(last)s") % {"first": dates.french_date(days[0]),
                                                          "last": dates.french_date(days[-1])}
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "is_nav_sidebar_enabled": False,  # the agenda needs the whole width of a 1366-pixel screen
        "title": _("Agenda de %(agent)s") % {"agent": agent},
        "heading": heading,
        "agenda": result,
        "rows": [{"day": d, "is_today": d == today, "url": link(vue=agenda.DAY, date=d.isoformat()), "cells": cells}
                 for d, cells in rows],
        "agent": agent,
        "agents": all_agents,
        "colleagues": colleagues,
        "shown_ids": {a.pk for a in shown},
        "chosen": bool(request.GET.get("choix")),
        "places": places,
        "place": place,
        "motifs": motifs,
        "motif": motif,
        "view": view,
        "day": day,
        "zone_name": str(zone),
        "previous_url": link(date=(days[0] - step).isoformat()),
        "next_url": link(date=(days[0] + step).isoformat()),
        "today_url": link(date=today.isoformat()),
        "day_url": link(vue=agenda.DAY, date=day.isoformat()),
        "week_url": link(vue=agenda.WEEK, date=day.isoformat()),
        "is_today_shown": today in days,
        "today": today,
    }
    return TemplateResponse(request, "admin/appointments/agenda.html", context)
