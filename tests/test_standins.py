"""The local stand-ins for the outside providers behave like the providers where the project can
tell: Twilio's REST API (checked against Twilio's own OpenAPI spec) and an SMTP server."""

import base64
import json
import smtplib
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
import requests
from django.core.mail import EmailMultiAlternatives, get_connection
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from .support.httpjson import BackgroundHTTPServer, QuietHandler
from .support.twilio_standin import SpecRequest, TwilioStandin, _openapi, sms_segments

MOBILE = "+33612345678"


# --- helpers --------------------------------------------------------------------------------


class WebhookRecorder:
    """An HTTP endpoint that records the form POSTs it receives (what Twilio would call)."""

    def __init__(self, answer=200):
        self.requests = []
        self.arrived = threading.Condition()
        recorder = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.read_body().decode()
                with recorder.arrived:
                    recorder.requests.append(
                        {
                            "path": self.path,
                            "params": dict(urllib.parse.parse_qsl(body, keep_blank_values=True)),
                            "signature": self.headers.get("X-Twilio-Signature"),
                        }
                    )
                    recorder.arrived.notify_all()
                self.send_json(answer, {})

        self.server = BackgroundHTTPServer(Handler)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()

    def url(self, path):
        return self.server.url + path

    def wait_for(self, count, timeout=10):
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout), self.requests
            return list(self.requests)


def post_form(standin, params, auth=None, account_sid=None):
    """POST a raw create-message request; returns (HTTP status, decoded JSON)."""
    sid, token = auth or (standin.account_sid, standin.auth_token)
    url = f"{standin.url}/2010-04-01/Accounts/{account_sid or standin.account_sid}/Messages.json"
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params, doseq=True).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --- Twilio: the real twilio-python Client talks to the stand-in --------------------------------


def test_the_real_twilio_client_sends_an_sms_through_the_standin(twilio_standin):
    client = Client(twilio_standin.account_sid, twilio_standin.auth_token)
    client.api.base_url = twilio_standin.url  # the recipe the SMS backend follows with TWILIO_API_BASE_URL

    sent = client.messages.create(
        to=MOBILE, from_="MAIRIE LYON", body="RDV mardi 12 mars à 14h30", status_callback="https://rdv.example.fr/cb"
    )

    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    assert (sent.to, sent.from_, sent.num_segments) == (MOBILE, "MAIRIE LYON", "1")
    [kept] = twilio_standin.messages
    assert (kept.sid, kept.to, kept.body) == (sent.sid, MOBILE, "RDV mardi 12 mars à 14h30")
    assert kept.status_callback == "https://rdv.example.fr/cb"
    assert kept.params == {
        "To": MOBILE,
        "From": "MAIRIE LYON",
        "Body": "RDV mardi 12 mars à 14h30",
        "StatusCallback": "https://rdv.example.fr/cb",
    }


def test_the_answer_is_a_message_resource_as_twilios_spec_describes_it(twilio_standin):
    from openapi_core.contrib.requests import RequestsOpenAPIResponse

    response = requests.post(
        f"{twilio_standin.url}/2010-04-01/Accounts/{twilio_standin.account_sid}/Messages.json",
        data={"To": MOBILE, "MessagingServiceSid": "MG" + "a" * 32, "Body": "Bonjour"},
        auth=(twilio_standin.account_sid, twilio_standin.auth_token),
        timeout=10,
    )
    assert response.status_code == 201

    # Validate the answer against the spec as if it came from api.twilio.com.
    openapi, _ = _openapi()
    sent = response.request
    spec_request = SpecRequest(
        urllib.parse.urlsplit(sent.url).path, sent.body.encode(), sent.headers["Content-Type"], sent.headers["Authorization"]
    )
    result = openapi.unmarshal_response(spec_request, RequestsOpenAPIResponse(response))
    assert result.errors == []
    # Without a From, Twilio picks a sender from the messaging service later: status "accepted".
    assert (result.data["status"], result.data["from"]) == ("accepted", None)
    assert result.data["messaging_service_sid"] == "MG" + "a" * 32


@pytest.mark.parametrize(
    "params, code, words",
    [
        ({"From": "RDV", "Body": "x"}, 21604, "'To' phone number is required"),
        ({"To": MOBILE, "Body": "x"}, 21603, "'From' or 'MessagingServiceSid'"),
        ({"To": MOBILE, "From": "RDV"}, 21602, "body is required"),
        ({"To": MOBILE, "From": "RDV", "Body": "x", "ValidityPeriod": "soon"}, 20001, "integer"),
        ({"To": MOBILE, "MessagingServiceSid": "MG-not-a-sid", "Body": "x"}, 20001, "MessagingServiceSid"),
        ({"To": MOBILE, "From": "RDV", "Body": "x", "StatusCallBack": "https://x"}, 20001, "StatusCallBack"),
    ],
    ids=["no To", "no sender", "no body", "integer as word", "bad service sid", "unknown name"],
)
@pytest.mark.parametrize("validation", ["full", "fast"])
def test_a_request_the_spec_refuses_gets_twilios_400_error(validation, params, code, words):
    with TwilioStandin(validation=validation) as twilio_standin:
        status, answer = post_form(twilio_standin, params)

    assert status == 400
    assert answer["code"] == code and answer["status"] == 400
    assert words in answer["message"]
    assert answer["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert twilio_standin.messages == []
    assert twilio_standin.stats()["rejected"] == 1


def test_fast_validation_reads_a_good_request_as_the_full_one_does():
    form = {
        "To": MOBILE, "From": "RDV", "Body": "Bonjour", "ValidityPeriod": "600", "ProvideFeedback": "true",
        "MediaUrl": ["https://rdv.example.fr/a.png", "https://rdv.example.fr/b.png"],
    }
    kept = {}
    for validation in ("full", "fast"):
        with TwilioStandin(validation=validation) as standin:
            status, answer = post_form(standin, form)
            assert (status, answer["num_media"]) == (201, "2")
            kept[validation] = standin.messages[0].params
    assert kept["fast"] == kept["full"]
    assert kept["fast"]["ValidityPeriod"] == 600 and kept["fast"]["ProvideFeedback"] is True


def test_a_lenient_standin_ignores_unknown_names_as_twilio_does():
    with TwilioStandin(strict=False) as standin:
        status, answer = post_form(standin, {"To": MOBILE, "From": "RDV", "Body": "x", "Colour": "blue"})
    assert status == 201 and answer["status"] == "queued"


def test_wrong_credentials_get_401_and_another_account_404(twilio_standin):
    status, answer = post_form(twilio_standin, {"To": MOBILE, "From": "RDV", "Body": "x"}, auth=(twilio_standin.account_sid, "wrong"))
    assert (status, answer["code"]) == (401, 20003)

    other = "AC" + "f" * 32
    status, answer = post_form(twilio_standin, {"To": MOBILE, "From": "RDV", "Body": "x"}, account_sid=other)
    assert (status, answer["code"]) == (404, 20404)
    assert twilio_standin.messages == []


# --- Twilio: faults -------------------------------------------------------------------------


def test_injected_failures_answer_then_the_standin_recovers(twilio_standin):
    client = twilio_standin.client()
    twilio_standin.fail_next(1, status=500)
    twilio_standin.fail_next(1, status=429)
    twilio_standin.fail_next(1, status=400, code=21211)

    answers = []
    for _ in range(3):
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=MOBILE, from_="RDV", body="x")
        answers.append((caught.value.status, caught.value.code))
    sent = client.messages.create(to=MOBILE, from_="RDV", body="x")

    assert answers == [(500, 20500), (429, 20429), (400, 21211)]
    assert [m.sid for m in twilio_standin.messages] == [sent.sid]
    assert twilio_standin.stats() == {"requests": 4, "accepted": 1, "rejected": 0, "failed": 3, "callbacks": 0}


def test_an_unsubscribed_recipient_is_refused_every_time(twilio_standin):
    twilio_standin.reject_recipient(MOBILE, code=21610)
    client = twilio_standin.client()
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=MOBILE, from_="RDV", body="x")
        assert (caught.value.status, caught.value.code) == (400, 21610)
    assert client.messages.create(to="+33698765432", from_="RDV", body="x").status == "queued"


def test_a_slow_standin_makes_the_client_time_out(twilio_standin):
    twilio_standin.set_delay(1.0)
    client = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=TwilioHttpClient(timeout=0.2))
    client.api.base_url = twilio_standin.url
    with pytest.raises(requests.exceptions.Timeout):
        client.messages.create(to=MOBILE, from_="RDV", body="x")


# --- Twilio: segments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, segments",
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é è à ù" + "a" * 153, 1),  # é, è, à, ù are in the GSM-7 alphabet
        ("€" * 80, 1),  # the extension table costs two septets each
        ("€" * 81, 2),
        ("ê" * 70, 1),  # ê is not: the whole message goes UCS-2
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
    ],
)
def test_segments_are_counted_as_twilio_bills_them(body, segments):
    assert sms_segments(body) == segments


def test_the_message_resource_reports_its_segments(twilio_standin):
    sent = twilio_standin.client().messages.create(to=MOBILE, from_="RDV", body="Rendez-vous confirmé " + "ô" * 60)
    assert sent.num_segments == "2"
    assert twilio_standin.messages[0].num_segments == 2


# --- Twilio: what comes back ----------------------------------------------------------------


def test_a_status_callback_is_signed_as_twilio_signs_it(twilio_standin):
    with WebhookRecorder() as hook:
        callback_url = hook.url("/webhooks/twilio/status?n=1")
        sent = twilio_standin.client().messages.create(to=MOBILE, from_="RDV", body="x", status_callback=callback_url)

        assert twilio_standin.deliver(sent.sid, "undelivered", error_code=30003) == 200
        [call] = hook.wait_for(1)

    assert call["params"] == {
        "AccountSid": twilio_standin.account_sid,
        "ApiVersion": "2010-04-01",
        "ErrorCode": "30003",
        "From": "RDV",
        "MessageSid": sent.sid,
        "MessageStatus": "undelivered",
        "SmsSid": sent.sid,
        "SmsStatus": "undelivered",
        "To": MOBILE,
    }
    assert RequestValidator(twilio_standin.auth_token).validate(callback_url, call["params"], call["signature"])
    assert not RequestValidator("another-token").validate(callback_url, call["params"], call["signature"])
    assert twilio_standin.message(sent.sid).status == "undelivered"
    assert [(c.status, c.http_status) for c in twilio_standin.callbacks] == [("undelivered", 200)]


def test_statuses_can_follow_by_themselves():
    with TwilioStandin(auto_statuses=("sent", "delivered")) as standin, WebhookRecorder() as hook:
        sent = standin.client().messages.create(to=MOBILE, from_="RDV", body="x", status_callback=hook.url("/status"))
        calls = hook.wait_for(2)
    assert [(c["params"]["MessageSid"], c["params"]["MessageStatus"]) for c in calls] == [
        (sent.sid, "sent"),
        (sent.sid, "delivered"),
    ]
    assert "ErrorCode" not in calls[1]["params"]


def test_an_inbound_stop_is_posted_signed(twilio_standin):
    with WebhookRecorder(answer=204) as hook:
        assert twilio_standin.send_inbound(hook.url("/webhooks/twilio/inbound"), from_=MOBILE, body="STOP") == 204
        [call] = hook.wait_for(1)
    assert (call["params"]["From"], call["params"]["Body"], call["params"]["SmsStatus"]) == (MOBILE, "STOP", "received")
    assert call["params"]["AccountSid"] == twilio_standin.account_sid
    assert RequestValidator(twilio_standin.auth_token).validate(
        hook.url("/webhooks/twilio/inbound"), call["params"], call["signature"]
    )


# --- SMTP -----------------------------------------------------------------------------------


def smtp_send(server, subject="Votre rendez-vous", to=("lea.dupont@exemple.fr",)):
    connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host=server.host, port=server.port)
    message = EmailMultiAlternatives(
        subject, "Bonjour Léa,\nmardi 12 mars 2026 à 14h30", "RDV <ne-pas-repondre@rdv.example.fr>", list(to),
        connection=connection,
    )
    message.attach_alternative("<p>Bonjour Léa, <b>mardi 12 mars 2026 à 14h30</b></p>", "text/html")
    message.attach("rendez-vous.ics", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n", "text/calendar")
    return message.send()


def test_the_smtp_server_keeps_each_message_parsed(smtp_server):
    assert smtp_send(smtp_server, subject="Votre rendez-vous est confirmé") == 1

    [mail] = smtp_server.wait_for_messages(1)
    assert mail.mail_from == "ne-pas-repondre@rdv.example.fr"
    assert mail.rcpt_tos == ["lea.dupont@exemple.fr"] and mail.to == ["lea.dupont@exemple.fr"]
    assert mail.subject == "Votre rendez-vous est confirmé"
    assert mail.text == "Bonjour Léa,\nmardi 12 mars 2026 à 14h30"
    assert mail.html == "<p>Bonjour Léa, <b>mardi 12 mars 2026 à 14h30</b></p>"
    [ics] = mail.attachments
    assert (ics.filename, ics.content_type) == ("rendez-vous.ics", "text/calendar")
    assert "METHOD:REQUEST" in mail.calendar


@pytest.mark.parametrize("code", [421, 451, 550])
def test_the_smtp_server_refuses_the_next_messages_on_demand(smtp_server, code):
    smtp_server.fail_next(2, code=code)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as caught:
            smtp_send(smtp_server)
        assert caught.value.smtp_code == code
    smtp_send(smtp_server, subject="third")

    assert [m.subject for m in smtp_server.messages] == ["third"]
    assert smtp_server.stats() == {"received": 1, "failed": 2}


def test_the_smtp_server_can_refuse_a_recipient(smtp_server):
    smtp_server.fail_next(1, code=550, stage="rcpt")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        smtp_send(smtp_server)
    assert caught.value.recipients["lea.dupont@exemple.fr"][0] == 550
    assert smtp_server.messages == []


# --- The stand-ins as separate processes (benchmarks and fault tests drive them this way) ----------


def test_the_twilio_standin_runs_out_of_process():
    from .support.processes import twilio_standin_process

    with twilio_standin_process(auth_token="process-token") as standin, WebhookRecorder() as hook:
        assert standin.settings()["TWILIO_AUTH_TOKEN"] == "process-token"
        client = standin.client()
        standin.fail_next(1, status=503)
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=MOBILE, from_="RDV", body="x")
        sent = client.messages.create(to=MOBILE, from_="RDV", body="Bonjour", status_callback=hook.url("/status"))

        [kept] = standin.wait_for_messages(1)
        assert standin.deliver(sent.sid, "delivered") == 200
        [call] = hook.wait_for(1)
        stats = standin.stats()

    assert caught.value.status == 503
    assert (kept.sid, kept.to, kept.body, kept.num_segments) == (sent.sid, MOBILE, "Bonjour", 1)
    assert call["params"]["MessageStatus"] == "delivered"
    assert RequestValidator("process-token").validate(hook.url("/status"), call["params"], call["signature"])
    assert stats == {"requests": 2, "accepted": 1, "rejected": 0, "failed": 1, "callbacks": 1}


def test_the_smtp_server_runs_out_of_process():
    from .support.processes import smtp_server_process

    with smtp_server_process() as server:
        server.fail_next(1, code=451)
        with pytest.raises(smtplib.SMTPDataError):
            smtp_send(server)
        smtp_send(server, subject="Rappel : votre rendez-vous")
        [mail] = server.wait_for_messages(1)
        stats = server.stats()

    assert mail.subject == "Rappel : votre rendez-vous"
    assert mail.text.startswith("Bonjour Léa") and "METHOD:REQUEST" in mail.calendar
    assert stats == {"received": 1, "failed": 1}


# --- Real Celery processes -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_test_database_url_reaches_the_rows_this_test_committed(demo):
    import psycopg

    from appointments.models import Organisation

    from .support.processes import test_database_url

    url = test_database_url()
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as other_connection:
        names = {row[0] for row in other_connection.execute("SELECT name FROM appointments_organisation")}

    assert names == set(Organisation.objects.values_list("name", flat=True)) and names


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_started_worker_answers_celery_inspect_ping_and_dies_with_sigkill():
    import signal
    import subprocess
    import sys

    from .support.processes import PROJECT_DIR, celery_worker, process_env

    env = process_env()
    assert env["CELERY_BROKER_URL"].startswith("redis://127.0.0.1:6379/")
    with celery_worker(env, concurrency=2) as worker:
        ping = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "rdv", "inspect", "ping", f"--destination={worker.nodename}", "--timeout=10"],
            env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert f"{worker.nodename}: OK" in ping.stdout and "pong" in ping.stdout
        assert worker.ping()
        assert len(worker.group_pids()) == 3  # the main process and its pool of two
        assert all(size > 0 for size in worker.rss_bytes().values())

        worker.kill(signal.SIGKILL)

        assert worker.returncode == -signal.SIGKILL
        assert worker.group_pids() == []


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_is_idle_only_when_neither_it_nor_the_broker_holds_a_task():
    """wait_idle(), the end condition of the exactly-once proofs, sees a task waiting in a queue
    and a task the worker holds for later (a retry's countdown), and passes once both are gone."""
    from .support.processes import broker_backlog, celery_worker, flush_redis, process_env, tasks_go_to_broker

    flush_redis()
    env = process_env()
    with tasks_go_to_broker() as app:
        app.send_task("notifications.send_due_reminders", queue="email")  # a queue nobody consumes below
        assert broker_backlog() == 1
        with celery_worker(env, queues=["celery"]) as worker:
            with pytest.raises(AssertionError, match="not idle: broker 1"):
                worker.wait_idle(timeout=1)
        flush_redis()
        with celery_worker(env) as worker:
            worker.wait_idle()
            app.send_task("notifications.send_due_reminders", countdown=120)
            with pytest.raises(AssertionError, match="'scheduled': 1"):
                worker.wait_idle(timeout=2)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_two_beats_each_start_with_their_own_schedule_file():
    from .support.processes import celery_beat, process_env

    env = process_env()
    with celery_beat(env) as first, celery_beat(env) as second:
        assert first.alive() and second.alive()
        assert first.schedule_path != second.schedule_path
        assert first.schedule_path.parent.exists()
    assert not first.alive() and not second.alive()


def test_a_worker_needs_a_broker_another_process_can_reach():
    from .support.processes import celery_worker

    with pytest.raises(ValueError, match="Redis broker"):
        with celery_worker({"CELERY_BROKER_URL": "memory://"}):
            pass


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_tasks_sent_from_the_test_reach_the_started_worker():
    from .support.processes import celery_worker, process_env, tasks_go_to_broker

    with celery_worker(process_env()) as worker, tasks_go_to_broker() as app:
        # celery.accumulate is a Celery built-in that returns its arguments: no project side effect.
        result = app.send_task("celery.accumulate", args=(20, 26), kwargs={"index": None})
        worker.wait_for_log(rf"celery\.accumulate\[{result.id}\] succeeded in [0-9.]+s: \(20, 26\)", timeout=30)

    from rdv.celery import app as project_app

    assert project_app.conf.task_always_eager  # the test settings are back


def test_a_failing_block_prints_the_process_log_and_ends_the_process(capsys):
    import sys

    from .support.processes import ManagedProcess

    process = ManagedProcess([sys.executable, "-c", "print('worker says hi', flush=True); import time; time.sleep(60)"], name="sleeper")
    with pytest.raises(RuntimeError, match="boom"):
        with process:
            process.wait_for_log("worker says hi", timeout=20)
            raise RuntimeError("boom")

    assert "----- sleeper log" in capsys.readouterr().err
    assert not process.alive() and process.group_pids() == []


def test_a_process_that_exits_early_fails_with_its_log():
    import sys

    from .support.processes import ManagedProcess, ProcessFailed

    with pytest.raises(ProcessFailed, match="no broker here"):
        with ManagedProcess([sys.executable, "-c", "raise SystemExit('no broker here')"], name="quitter") as process:
            process.wait_for_log("ready", timeout=20)
