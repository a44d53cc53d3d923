from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from notifications.health import deep_checks

from .celery import app as celery_app


def _database_ok():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_ok():
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@never_cache
@require_safe
def healthz(request):
    """Liveness (`/healthz`): the database and the broker answer. With `?deep=1`, also whether
    notifications move (README, "Operations"). Public, as load balancers and monitors probe it
    without a login: it names its checks and their ages in seconds, nothing else (no provider,
    no count, no record); who failed over is in the admin and the logs. never_cache: no proxy
    or browser keeps an answer."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    body = {}
    if request.GET.get("deep") in ("1", "true"):
        deep = deep_checks(database=checks["database"])
        checks.update({name: check.ok for name, check in deep.items()})
        body = {"failing": [name for name, ok in checks.items() if not ok],
                "age_seconds": {name: check.age_seconds for name, check in deep.items() if name != "sms_providers"}}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks, **body}, status=200 if healthy else 503
    )
