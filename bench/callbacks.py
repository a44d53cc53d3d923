"""Status callbacks: how fast the web tier absorbs Twilio's signed delivery reports.

Twilio posts about two reports per SMS (sent, then delivered). Each is checked (signature),
parsed, deduplicated and applied (notifications/status.py). Loaded by wrk with 32 connections
against gunicorn (production gunicorn.conf.py), the reports of the SMS the drain (bench/pipeline.py)
just delivered: `callbacks_vs_sms_rate` compares them with the SMS delivered per second in that
drain (target: at least twice as fast, so a reminder peak never backs the web tier up).
"""

from urllib.parse import urlencode

from . import processes
from .env import bench_env
from .pages import ensure_wrk, wrk

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
REPORTS = 20_000


def reports(base_url, limit=REPORTS):
    """(path, body, signature) for the 'sent' and 'delivered' reports of up to limit/2 SMS."""
    from twilio.request_validator import RequestValidator

    from appointments.models import Channel
    from notifications.models import Notification

    validator = RequestValidator(AUTH_TOKEN)
    sms = (Notification.objects.filter(channel=Channel.SMS).exclude(provider_message_id="")
           .values_list("pk", "provider_message_id", "to")[:limit // 2])
    lines = []
    for pk, sid, to in sms:
        for status in ("sent", "delivered"):
            path = f"/webhooks/twilio/status?n={pk}"
            params = {"MessageSid": sid, "MessageStatus": status, "To": to, "AccountSid": "AC" + "0" * 32}
            lines.append((path, urlencode(params), validator.compute_signature(base_url + path, params)))
    return lines


def run():
    ensure_wrk()
    base_url = bench_env()["PUBLIC_BASE_URL"]
    lines = reports(base_url)
    if not lines:
        return {"callbacks_skipped": "no SMS delivered by a drain in this database (run the pipeline section first)"}
    with processes.gunicorn(TWILIO_AUTH_TOKEN=AUTH_TOKEN) as server:
        server.wait_ready()
        report = wrk(server.url, [f"{path}\t{body}\t{signature}" for path, body, signature in lines])
    if report["non_2xx"] or report["socket_errors"]:
        raise RuntimeError(f"status callbacks refused or lost: {report}")
    return {"callbacks_reports": len(lines), "callbacks_per_s": report["rps"], "callbacks_p95_ms": report["p95_ms"]}
