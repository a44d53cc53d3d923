"""Flower, a real process, as operations use it: its Prometheus metrics (its own task and worker
figures and the notification pipeline's, notifications/metrics.py) behind its login, and task
times in the one time zone a person reads everywhere (TIME_ZONE)."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from notifications.health import record_sweep
from notifications.metrics import PipelineCollector

from .servers import REDIS_URL
from .support.processes import (
    celery_worker, flower, flush_redis, poll, process_env, tasks_go_to_broker, twilio_standin_process,
)

LOGIN = "ops:correct-horse-battery"


@pytest.fixture
def collector(transactional_db):
    """The collector in this process. It reads the database from a thread of its own (Flower
    serves /metrics from an asyncio loop), which sees committed rows only."""
    return PipelineCollector()


def samples(collector):
    return {(metric.name, tuple(sorted(sample.labels.items()))): sample.value
            for metric in collector.collect() for sample in metric.samples}


def test_the_pipeline_figures_are_the_deep_checks(collector, settings):
    """In process: each check's verdict, the two ages, each breaker, each queue."""
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    record_sweep()
    figures = samples(collector)
    assert figures[("rdv_health_check_ok", (("check", "reminder_sweep"),))] == 1
    assert figures[("rdv_health_check_ok", (("check", "oldest_pending_notification"),))] == 1
    assert figures[("rdv_health_check_ok", (("check", "sms_providers"),))] == 1
    assert figures[("rdv_reminder_sweep_age_seconds", ())] < 5
    assert figures[("rdv_oldest_pending_notification_age_seconds", ())] == 0
    assert figures[("rdv_sms_breaker_open", (("provider", "twilio"),))] == 0
    assert figures[("rdv_sms_breaker_open", (("provider", "brevo"),))] == 0
    assert {labels for name, labels in figures if name == "rdv_queue_length"} == {
        (("queue", "celery"),), (("queue", "periodic"),), (("queue", "sms"),), (("queue", "email"),)}


def test_a_sweep_never_recorded_has_no_age_and_fails(collector):
    figures = samples(collector)
    assert figures[("rdv_health_check_ok", (("check", "reminder_sweep"),))] == 0
    assert not any(name == "rdv_reminder_sweep_age_seconds" for name, _ in figures)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_flower_serves_its_metrics_and_the_pipelines_behind_its_login(settings):
    flush_redis()
    record_sweep()
    env = process_env(FLOWER_BASIC_AUTH=LOGIN, CACHE_URL=REDIS_URL)
    with celery_worker(env) as worker, flower(env) as flower_process:

        def metrics_with(fragment):
            def found():
                status, text = flower_process.get("/metrics", auth=LOGIN)
                return text if status == 200 and fragment in text else None

            return poll(found, 60, lambda: flower_process.log_text()[-3000:])

        assert flower_process.get("/metrics")[0] == 401
        assert flower_process.get("/metrics", auth="ops:wrong-password")[0] == 401
        assert flower_process.get("/healthcheck") == (200, "OK")  # the container's probe, open
        # Flower hears the worker (its events), then a task's.
        metrics_with(f'flower_worker_online{{worker="{worker.nodename}"}} 1.0')
        with tasks_go_to_broker() as app:
            task_id = app.send_task("notifications.send_due_reminders").id
        text = metrics_with(f'flower_events_total{{task="notifications.send_due_reminders",type="task-succeeded",'
                            f'worker="{worker.nodename}"}} 1.0')
        assert f'flower_task_runtime_seconds_count{{task="notifications.send_due_reminders",worker="{worker.nodename}"}}' in text
        # The pipeline's figures, read by the Flower process from the database, the cache and Redis.
        assert 'rdv_health_check_ok{check="reminder_sweep"} 1.0' in text
        assert 'rdv_health_check_ok{check="oldest_pending_notification"} 1.0' in text
        assert 'rdv_sms_breaker_open{provider="outbox"} 0.0' in text  # rdv.settings' default backend
        assert 'rdv_queue_length{queue="sms"} 0.0' in text
        assert re.search(r"^rdv_reminder_sweep_age_seconds \d", text, re.M)

        # Task times in TIME_ZONE, said on the task's page (CET / CEST for Paris).
        status, tasks_page = flower_process.get("/tasks", auth=LOGIN)
        assert status == 200 and f'value="time-{settings.TIME_ZONE}"' in tasks_page
        status, task_page = flower_process.get(f"/task/{task_id}", auth=LOGIN)
        assert status == 200
        shown = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+ (CES?T)", task_page)
        assert shown, task_page[-3000:]
        local = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
        assert shown.group(2) == local.tzname()  # the label matches the zone's offset that day


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_notification_that_fails_for_good_is_a_failure_in_flower(demo):
    """Recorded first (failed, with Twilio's code), then its task ends as FAILURE: Flower's task
    list and its metrics count it, where they used to show SUCCESS."""
    import json

    from notifications.models import Notification, Status

    flush_redis()
    with twilio_standin_process(validation="fast") as twilio:
        twilio.fail_next(count=1, status=400, code=21211)  # "invalid 'To' phone number": permanent
        env = process_env(**twilio.settings(), FLOWER_BASIC_AUTH=LOGIN, CACHE_URL=REDIS_URL)
        with celery_worker(env) as worker, flower(env) as flower_process, tasks_go_to_broker():
            poll(lambda: worker.nodename in flower_process.get("/api/workers", auth=LOGIN)[1], 60,
                 lambda: flower_process.log_text()[-3000:])
            demo.book()

            def failed_tasks():
                status, text = flower_process.get("/api/tasks?state=FAILURE", auth=LOGIN)
                tasks = json.loads(text) if status == 200 else {}
                return [task for task in tasks.values() if task["name"] == "notifications.send_sms"]

            [task] = poll(failed_tasks, 60, lambda: flower_process.log_text()[-3000:])
            worker.wait_idle()
            status, text = flower_process.get("/metrics", auth=LOGIN)
    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.error_code) == (Status.FAILED, "21211")
    assert task["state"] == "FAILURE" and "NotificationFailed" in task["exception"]
    assert status == 200
    assert f'flower_events_total{{task="notifications.send_sms",type="task-failed",worker="{worker.nodename}"}} 1.0' in text
