"""The agents' dashboard: notifications per day, by status, for each channel, over the last
days — drawn server-side as an SVG bar chart (no JavaScript), with the same figures as a
table beside it. Agents see their own organisations' notifications only."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.admin import scope
from appointments.models import Channel

from .limits import public_budget_state
from .models import Notification, NotificationDashboard, Status

DEFAULT_DAYS = 14
MAX_DAYS = 90
# One colour per status, readable on white (DSFR palette), in stacking order.
STATUS_COLOURS = {
    Status.DELIVERED: "#18753c",
    Status.SENT: "#6a6af4",
    Status.PENDING: "#b7a73f",
    Status.SENDING: "#b7a73f",
    Status.UNCERTAIN: "#c3992a",
    Status.SOFT_BOUNCED: "#e4794a",
    Status.UNDELIVERED: "#e4794a",
    Status.BOUNCED: "#e4794a",
    Status.FAILED: "#ce0500",
    Status.CANCELLED: "#929292",
    Status.LIMITED: "#6e445a",
}
CHART = {"width": 720, "height": 220, "left": 40, "bottom": 28, "top": 10}


@dataclass
class Bar:
    x: float
    width: float
    label: str
    total: int
    segments: list = field(default_factory=list)  # (y, height, colour, status label, count)


def counts(queryset, days, zone, now=None):
    """{(day, channel, status): count} for the last `days` local days, today included."""
    now = now or timezone.now()
    first_day = timezone.localdate(now, zone) - timedelta(days=days - 1)
    rows = (
        queryset.filter(created_at__gte=datetime.combine(first_day, time(0), tzinfo=zone))
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "channel", "status")
        .annotate(n=Count("id"))
    )
    return first_day, {(row["day"], row["channel"], row["status"]): row["n"] for row in rows}


def chart(first_day, days, data, channel):
    """The bars of one channel's chart: one per day, stacked by status."""
    inner_width = CHART["width"] - CHART["left"] - 10
    inner_height = CHART["height"] - CHART["bottom"] - CHART["top"]
    dates = [first_day + timedelta(days=i) for i in range(days)]
    totals = [sum(n for (d, c, _s), n in data.items() if d == day and c == channel) for day in dates]
    scale_max = max(totals + [1])
    step = inner_width / days
    bars = []
    for day, total in zip(dates, totals, strict=True):
        bar = Bar(x=CHART["left"] + step * len(bars) + step * 0.15, width=step * 0.7, label=day.strftime("%d/%m"), total=total)
        y = CHART["top"] + inner_height
        for status, colour in STATUS_COLOURS.items():
            n = data.get((day, channel, status), 0)
            if n:
                height = inner_height * n / scale_max
                y -= height
                bar.segments.append((round(y, 1), round(height, 1), colour, Status(status).label, n))
        bars.append(bar)
    return {"bars": bars, "max": scale_max, "total": sum(totals), "baseline": CHART["top"] + inner_height}


@admin.register(NotificationDashboard)
class NotificationDashboardAdmin(admin.ModelAdmin):
    """Its list page is the dashboard; agents who may see notifications may see it."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("notifications.view_notification")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        try:
            days = min(max(int(request.GET.get("jours", DEFAULT_DAYS)), 1), MAX_DAYS)
        except ValueError:
            days = DEFAULT_DAYS
        zone = ZoneInfo(settings.TIME_ZONE)
        queryset = scope(Notification.objects.all(), request, "appointment__organisation")
        first_day, data = counts(queryset, days, zone)
        channels = [
            {"label": label, "chart": chart(first_day, days, data, value)} for value, label in Channel.choices
        ]
        legend = []
        for status, colour in STATUS_COLOURS.items():
            if Status(status).label not in [label for _c, label in legend]:
                legend.append((colour, Status(status).label))
        table = [
            {"status": Status(status).label,
             "counts": [sum(n for (d, c, s), n in data.items() if c == value and s == status) for value, _l in Channel.choices]}
            for status in STATUS_COLOURS
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Envois des %(days)s derniers jours") % {"days": days},
            "opts": self.model._meta,
            "days": days,
            "day_choices": [7, 14, 30, 90],
            "channels": channels,
            "legend": legend,
            "table": [row for row in table if any(row["counts"])],
            "channel_labels": [label for _v, label in Channel.choices],
            "chart": CHART,
            # A surge (or an attack) on the public pages shows here first: SMS being withheld.
            "sms_budget": public_budget_state(),
        }
        return TemplateResponse(request, "admin/notifications/dashboard.html", context)
