"""The notification pipeline's figures for Prometheus, served beside Flower's own on Flower's
/metrics (flowerconfig.py registers the collector): one scrape target, behind Flower's login.

Read at each scrape: the deep health check's three checks and their ages (notifications/health.py),
each SMS provider's breaker, and the length of each Celery queue in the broker. About 50 ms, most
of it opening a database and a broker connection (none is kept between scrapes). The Flower
process needs the settings of the others (DATABASE_URL, CACHE_URL: compose gives it the same
.env); a figure it cannot read reports its check failing. Names and meaning: README, "Operations".
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


def queue_lengths():
    """{queue: messages waiting in the broker} for the queues the workers consume."""
    from django.conf import settings
    from kombu.exceptions import ChannelError

    from rdv.celery import app

    lengths = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        for name in settings.CELERY_TASK_QUEUES:
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # never declared, or empty and gone (Redis drops an empty list)
                lengths[name] = 0
    return lengths


def _read_checks():
    """The deep checks, in a thread of ours: Flower answers /metrics from its asyncio loop, where
    Django refuses database calls. The connection is closed after each scrape, so that none is
    left open between scrapes (a restarted database, a test database to drop)."""
    from django.db import connections

    from . import health

    try:
        return health.deep_checks()
    finally:
        connections.close_all()


_database_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rdv-metrics")


class PipelineCollector:
    def describe(self):
        # Nothing to check against other collectors' names; and the registry must not call
        # collect() (the database) when the collector is registered.
        return []

    def collect(self):
        import django
        from django.apps import apps

        if not apps.ready:
            django.setup()
        from .sms import configured_backends
        from .sms.breaker import breaker_states

        checks = _database_thread.submit(_read_checks).result()
        ok = GaugeMetricFamily("rdv_health_check_ok", "1 when the deep health check's check passes, else 0",
                               labels=["check"])
        for name, check in checks.items():
            ok.add_metric([name], int(check.ok))
        yield ok
        for name, description in (
            ("reminder_sweep", "Seconds since the last reminder sweep ended"),
            ("oldest_pending_notification", "Seconds the oldest notification still to send has waited"),
        ):
            if checks[name].age_seconds is not None:
                yield GaugeMetricFamily(f"rdv_{name}_age_seconds", description, value=checks[name].age_seconds)
        try:
            states = breaker_states([cls.name for cls in configured_backends()])
        except Exception as exc:
            log.warning("metrics: SMS breakers could not be read (%s)", type(exc).__name__)
        else:
            breakers = GaugeMetricFamily("rdv_sms_breaker_open",
                                         "1 while the SMS provider's circuit breaker is open or half-open",
                                         labels=["provider"])
            for provider, state in states.items():
                breakers.add_metric([provider], int(state != "closed"))
            yield breakers
        try:
            lengths = queue_lengths()
        except Exception as exc:
            log.warning("metrics: queue lengths could not be read (%s)", type(exc).__name__)
        else:
            queues = GaugeMetricFamily("rdv_queue_length", "Tasks waiting in the broker, per Celery queue",
                                       labels=["queue"])
            for name, length in lengths.items():
                queues.add_metric([name], length)
            yield queues


_collector = None


def register():
    """Add the collector to Prometheus' default registry, the one Flower's /metrics serves; once."""
    global _collector
    from prometheus_client import REGISTRY

    if _collector is None:
        _collector = PipelineCollector()
        REGISTRY.register(_collector)
