"""Start the project's real processes (Celery worker, Celery beat) and the provider stand-ins as
separate processes, for end-to-end tests, fault tests and benchmarks.

Every process runs in its own process group (so that killing it takes its pool children too),
writes its output to a temporary log file, and is stopped at the end of its ``with`` block; when
the block fails the tail of the log is printed (pytest shows it with the failure).

A worker runs with the project's real settings (``rdv.settings``, read from the environment), not
the test settings: give it the test database and a Redis broker::

    @pytest.mark.django_db(transaction=True)   # the worker only sees committed rows
    def test_...(twilio_standin, smtp_server):
        env = process_env(**twilio_standin.settings(), **smtp_server.settings())
        with celery_worker(env, concurrency=2) as worker:
            ...
            worker.kill(signal.SIGKILL)        # a fault test

``process_env()`` fills DATABASE_URL (``test_database_url()``), CELERY_BROKER_URL (the Redis
database of this checkout, ``TEST_REDIS_DB``) and production-like defaults (DEBUG=false).
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from ..servers import REDIS_URL
from .httpjson import http_json
from .polling import poll
from .brevo_standin import brevo_settings
from .smtp_server import smtp_settings
from .twilio_standin import DEFAULT_FROM, twilio_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_database_url(connection=None):
    """The URL of the database the running test uses (pytest-django's test database), for
    processes started by the test. PostgreSQL only: other processes cannot see an in-memory
    SQLite database."""
    from django.db import connection as default_connection

    settings = (connection or default_connection).settings_dict
    if settings["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError(f"processes started by tests need PostgreSQL, the tests run on {settings['ENGINE']}")
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{quote(settings['NAME'], safe='')}"


test_database_url.__test__ = False  # a helper, not a test, whatever its name


def project_env(**settings):
    """The environment of a project process started by the tests or the benchmarks: this one's,
    less the test process's own Django, Celery and Flower settings, with the project's real
    settings module, production-like (DEBUG=false, a random SECRET_KEY), output unbuffered; then
    `settings` (None removes one). PYTHONPATH is kept: it carries the test clock's offset."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_", "FLOWER_"))}
    env.update(DJANGO_SETTINGS_MODULE="rdv.settings", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(48),
               PYTHONUNBUFFERED="1")
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def process_env(database_url=None, broker_url=None, **settings):
    """The environment of a worker, beat or web process that shares the running test's database
    (``test_database_url()``) and this checkout's Redis database, with the given settings."""
    return project_env(**{
        "DATABASE_URL": database_url or test_database_url(),
        "CELERY_BROKER_URL": broker_url or REDIS_URL,
        "SECRET_KEY": os.environ.get("E2E_SECRET_KEY") or secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **settings,
    })


def flush_redis(url=REDIS_URL):
    """Empty this checkout's Redis database (queued tasks left by an earlier run)."""
    import redis

    redis.Redis.from_url(url).flushdb()


class ProcessFailed(RuntimeError):
    pass


class ManagedProcess:
    """One subprocess in its own process group, its output in a temporary log file."""

    def __init__(self, argv, env=None, name="process", cwd=PROJECT_DIR):
        self.argv = [str(arg) for arg in argv]
        self.env = env
        self.name = name
        self.cwd = cwd
        self.workdir = Path(tempfile.mkdtemp(prefix=f"rdv-{name}-"))
        self.log_path = self.workdir / "output.log"
        self.popen = None

    # -- lifecycle

    def start(self):
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches its children
            )
        return self

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def group_pids(self):
        """The live processes of its group (the main process and, for a worker, its pool)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[2]) == self.pid and fields[0] != "Z":  # pgrp; zombies are dead
                    pids.append(int(entry.name))
        return sorted(pids)

    def rss_bytes(self):
        """Resident memory of each live process of the group, {pid: bytes} (for benchmarks)."""
        sizes = {}
        for pid in self.group_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[pid] = int(line.split()[1]) * 1024
            except OSError:
                continue
        return sizes

    def kill(self, sig=signal.SIGKILL):
        """Send `sig` to the whole group (SIGKILL: a crash, no cleanup, the pool children too)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self.popen.wait(timeout=10)
            self._wait_group_gone(10)

    def stop(self, timeout=15):
        """SIGTERM (a warm shutdown), then SIGKILL for whatever is left of the group."""
        if self.popen is None:
            return
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)
        self._wait_group_gone(5)

    def _wait_group_gone(self, timeout):
        poll(lambda: not self.group_pids(), timeout, lambda: f"{self.name}: processes {self.group_pids()} outlived SIGKILL")

    def cleanup(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        if self.popen is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None:
            self.print_log()
        self.cleanup()

    # -- output

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def print_log(self, lines=200):
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        print(f"\n----- {self.name} log ({' '.join(self.argv[:6])} ...) -----\n{tail}\n----- end of {self.name} log -----",
              file=sys.stderr)

    def wait_for_log(self, pattern, timeout=60.0):
        """Wait until a line of the log matches `pattern` (a regex); returns the match. Fails,
        with the log, if the process exits or the time runs out first."""
        regex = re.compile(pattern, re.MULTILINE)
        return self.wait_until(lambda: regex.search(self.log_text()), timeout, f"{pattern!r} in its log")

    def wait_until(self, condition, timeout, what):
        """poll() for `condition`, but fail at once, with the log, if the process exits first."""
        def met_while_alive():
            value = condition()
            if not value and not self.alive():
                raise ProcessFailed(f"{self.name} exited ({self.returncode}) before {what}:\n{self.log_text()[-4000:]}")
            return value

        try:
            return poll(met_while_alive, timeout)
        except AssertionError:
            raise ProcessFailed(f"{self.name}: no {what} after {timeout}s:\n{self.log_text()[-4000:]}") from None


# --- Celery ----------------------------------------------------------------------------------


def _check_broker(env):
    broker = env.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "rediss://")):
        raise ValueError(f"a worker in another process needs a Redis broker, not {broker!r} (use process_env())")


class CeleryWorker(ManagedProcess):
    def __init__(self, env, concurrency=1, queues=None, pool="prefork", loglevel="INFO", name="worker", extra_args=()):
        _check_broker(env)
        self.loglevel = loglevel
        self.nodename = f"{name}-{secrets.token_hex(3)}@{socket.gethostname()}"
        self.broker_url = env["CELERY_BROKER_URL"]
        argv = [
            sys.executable, "-m", "celery", "-A", "rdv", "worker",
            f"--loglevel={loglevel}", f"--concurrency={concurrency}", f"--pool={pool}",
            f"--hostname={self.nodename}", "--without-gossip", "--without-mingle",
        ]
        if queues:
            argv.append("--queues=" + ",".join(queues))
        super().__init__([*argv, *extra_args], env=env, name=name)

    def wait_ready(self, timeout=60.0):
        if self.loglevel.upper() in ("DEBUG", "INFO"):
            self.wait_for_log(re.escape(self.nodename) + r" ready\.", timeout)
        else:  # a quiet worker (the benchmarks') does not log "ready": ask it
            self.wait_until(lambda: self.ping(timeout=0.5), timeout, "answer to a ping")
        return self

    def rss_mb(self):
        """Resident memory of each process of the worker (main and pool), in MB."""
        return [round(size / 2**20, 1) for size in self.rss_bytes().values()]

    def ping(self, timeout=2.0):
        """Whether the worker answers a remote-control ping through the broker."""
        from celery import Celery

        app = Celery("rdv-e2e-ping", set_as_current=False)
        # Celery prefers $CELERY_BROKER_URL (memory:// in the test process) to broker_url, but
        # not to the read/write URLs.
        app.conf.broker_read_url = app.conf.broker_write_url = self.broker_url
        try:
            replies = app.control.ping(destination=[self.nodename], timeout=timeout)
        finally:
            app.close()
        return any(self.nodename in reply for reply in replies)

    def busy(self, timeout=2.0):
        """What the worker holds: tasks running, reserved (prefetched) or scheduled (a retry's
        countdown), by kind; None when it does not answer."""
        from celery import Celery

        app = Celery("rdv-e2e-inspect", set_as_current=False)
        app.conf.broker_read_url = app.conf.broker_write_url = self.broker_url
        try:
            inspect = app.control.inspect(destination=[self.nodename], timeout=timeout)
            held = {}
            for kind in ("active", "reserved", "scheduled"):
                reply = getattr(inspect, kind)() or {}
                if self.nodename not in reply:
                    return None
                held[kind] = len(reply[self.nodename])
            return held
        finally:
            app.close()

    def wait_idle(self, timeout=60.0):
        """Until nothing is left to do: the broker's queues hold no message (waiting, or taken
        and not yet acknowledged) and the worker holds no task. Looked at queue, worker, queue:
        a task moving from one to the other, or enqueued by a task that just ended, is seen.
        The end condition of an exactly-once proof, instead of a sleep that a late duplicate
        would outlast."""
        def idle():
            return broker_backlog(self.broker_url) == 0 and self.busy() == ZERO_HELD and broker_backlog(self.broker_url) == 0

        # Twice in a row: a message just popped from a queue is being registered by the worker.
        poll(lambda: idle() and idle(), timeout, lambda: f"{self.name} not idle: broker {broker_backlog(self.broker_url)}, worker {self.busy()}")
        return self


ZERO_HELD = {"active": 0, "reserved": 0, "scheduled": 0}
# kombu's Redis transport: one list per queue and priority step. (Its "unacked" hash is not
# counted: what a live worker took, it holds; what a killed one took waits for the visibility
# timeout, the recovery sweep's business.)
QUEUE_NAMES = ("celery", "periodic", "sms", "email")
PRIORITY_KEYS = [name + suffix for name in QUEUE_NAMES for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169")]


def broker_backlog(broker_url=REDIS_URL):
    """Messages waiting in the project's queues of the Redis broker."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        return sum(client.llen(key) for key in PRIORITY_KEYS)
    finally:
        client.close()


@contextmanager
def tasks_go_to_broker(broker_url=REDIS_URL):
    """Make the test process's Celery app (rdv.celery.app) publish its tasks to `broker_url` for
    a started worker, instead of running them eagerly (tests/settings.py) — so that code under
    test that calls .delay() / .apply_async() (e.g. after a booking commits) reaches the worker.

    Celery prefers $CELERY_BROKER_URL (memory://, set by tests/settings.py) to ``broker_url``,
    but not to the read/write URLs: those are what is switched."""
    from rdv.celery import app

    saved = {name: app.conf.get(name) for name in ("task_always_eager", "broker_read_url", "broker_write_url")}

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.update(task_always_eager=False, broker_read_url=broker_url, broker_write_url=broker_url)
    reset_pools()
    try:
        yield app
    finally:
        app.conf.update(saved)
        reset_pools()


class CeleryBeat(ManagedProcess):
    def __init__(self, env, loglevel="INFO", max_interval=None, name="beat", extra_args=()):
        _check_broker(env)
        super().__init__([], env=env, name=name)
        self.schedule_path = self.workdir / "celerybeat-schedule"  # its own, so two beats don't share
        self.argv = [
            sys.executable, "-m", "celery", "-A", "rdv", "beat", f"--loglevel={loglevel}",
            f"--schedule={self.schedule_path}", f"--pidfile={self.workdir / 'beat.pid'}",
        ]
        if max_interval is not None:
            self.argv.append(f"--max-interval={max_interval}")
        self.argv.extend(extra_args)

    def wait_ready(self, timeout=60.0):
        self.wait_for_log(r"beat: Starting\.\.\.", timeout)
        return self


@contextmanager
def celery_worker(env, concurrency=1, queues=None, pool="prefork", loglevel="INFO", ready_timeout=60.0, **kwargs):
    """A `celery -A rdv worker` process, ready (it logged "<node> ready.") when the block starts,
    its whole process group stopped at the end. `.kill(signal.SIGKILL)` for fault tests."""
    worker = CeleryWorker(env, concurrency, queues, pool, loglevel, **kwargs)
    with worker:
        worker.wait_ready(ready_timeout)
        yield worker


@contextmanager
def celery_beat(env, loglevel="INFO", max_interval=None, ready_timeout=60.0, **kwargs):
    """A `celery -A rdv beat` process with its own schedule file, started when the block starts."""
    beat = CeleryBeat(env, loglevel, max_interval, **kwargs)
    with beat:
        beat.wait_ready(ready_timeout)
        yield beat


# --- The web process ----------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornProcess(ManagedProcess):
    """`gunicorn rdv.wsgi` on a free port of 127.0.0.1, with the production gunicorn.conf.py."""

    def __init__(self, env, wsgi="rdv.wsgi", workers=None, name="gunicorn", extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "gunicorn", wsgi, "--config", str(PROJECT_DIR / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.port}"]
        if workers:
            argv += ["--workers", str(workers)]
        super().__init__([*argv, *extra_args], env=env, name=name)

    def wait_ready(self, path="/healthz", timeout=60.0):
        import urllib.error
        import urllib.request

        def answers():
            try:
                with urllib.request.urlopen(self.url + path, timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True  # an answer, even 503
            except OSError:
                return False

        self.wait_until(answers, timeout, f"answer on {path}")
        return self


class FlowerProcess(ManagedProcess):
    """`celery -A rdv flower` on a free port of 127.0.0.1, configured by flowerconfig.py (read from
    the project directory) with FLOWER_BASIC_AUTH from `env`. `get(path, auth)` answers
    (status, body text); `auth` is "user:password" or None."""

    def __init__(self, env, name="flower", extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "celery", "-A", "rdv", "flower", f"--port={self.port}", "--address=127.0.0.1"]
        super().__init__([*argv, *extra_args], env=env, name=name)

    def get(self, path, auth=None):
        import base64
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url + path)
        if auth is not None:
            request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_ready(self, timeout=60.0):
        def answers():
            try:
                return self.get("/healthcheck")[0] == 200
            except OSError:
                return False

        self.wait_until(answers, timeout, "an answer to /healthcheck")
        return self


@contextmanager
def flower(env, ready_timeout=60.0, **kwargs):
    """A Flower process, answering when the block starts, stopped at its end."""
    process = FlowerProcess(env, **kwargs)
    with process:
        process.wait_ready(ready_timeout)
        yield process


# --- The stand-ins, out of process ----------------------------------------------------------------


def _read_banner(process, timeout):
    return json.loads(process.wait_for_log(r"^\{.*\}$", timeout).group(0))


class TwilioStandinProcess(ManagedProcess):
    """`python -m tests.support.twilio_standin` with the in-process stand-in's API, over HTTP."""

    def __init__(
        self, account_sid=None, auth_token=None, auto_statuses=(), strict=True, validation="full", name="twilio-standin"
    ):
        argv = [sys.executable, "-m", "tests.support.twilio_standin", "--port", "0", "--validation", validation]
        if account_sid:
            argv += ["--account-sid", account_sid]
        if auth_token:
            argv += ["--auth-token", auth_token]
        if auto_statuses:
            argv += ["--auto-statuses", ",".join(auto_statuses)]
        if not strict:
            argv.append("--lenient")
        super().__init__(argv, env=dict(os.environ, PYTHONUNBUFFERED="1"), name=name)

    def wait_ready(self, timeout=30.0):
        banner = _read_banner(self, timeout)
        self.url, self.account_sid, self.auth_token = banner["url"], banner["account_sid"], banner["auth_token"]
        return self

    def _call(self, method, path, payload=None):
        return http_json(method, self.url + path, payload)

    def settings(self, from_=DEFAULT_FROM, messaging_service_sid=None):
        """The project's settings that point it at this stand-in (for the `settings` fixture or a
        process environment); the sender is a number, or a messaging service when given."""
        return twilio_settings(self, from_, messaging_service_sid)

    def client(self):
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token)
        client.api.base_url = self.url
        return client

    @property
    def messages(self):
        from .twilio_standin import AcceptedMessage

        return [AcceptedMessage.from_json(m) for m in self._call("GET", "/_standin/messages")["messages"]]

    def stats(self):
        return self._call("GET", "/_standin/stats")

    def wait_for_messages(self, count, timeout=10.0):
        poll(lambda: self.stats()["accepted"] >= count, timeout, lambda: f"{self.stats()} SMS, expected {count}")
        return self.messages

    def fail_next(self, count=1, status=500, code=None, message=None, delay=0.0, retry_after=1):
        self._call("POST", "/_standin/fail", {"count": count, "status": status, "code": code, "message": message,
                                              "delay": delay, "retry_after": retry_after})

    def set_delay(self, seconds):
        self._call("POST", "/_standin/delay", {"seconds": seconds})

    def reject_recipient(self, to, code=21610, status=400):
        self._call("POST", "/_standin/reject", {"to": to, "code": code, "status": status})

    def deliver(self, sid, status="delivered", error_code=None):
        return self._call("POST", "/_standin/deliver", {"sid": sid, "status": status, "error_code": error_code})["http_status"]

    def send_inbound(self, url, from_, body="STOP", to=None):
        payload = {"url": url, "from": from_, "body": body}
        if to:
            payload["to"] = to
        return self._call("POST", "/_standin/inbound", payload)["http_status"]

    def reset(self):
        self._call("POST", "/_standin/reset")


class BrevoStandinProcess(ManagedProcess):
    """`python -m tests.support.brevo_standin` with the in-process stand-in's API, over HTTP."""

    def __init__(self, name="brevo-standin"):
        argv = [sys.executable, "-m", "tests.support.brevo_standin", "--port", "0"]
        super().__init__(argv, env=dict(os.environ, PYTHONUNBUFFERED="1"), name=name)

    def wait_ready(self, timeout=30.0):
        banner = _read_banner(self, timeout)
        self.url, self.api_key = banner["url"], banner["api_key"]
        self.control_url = self.url.removesuffix("/v3")
        return self

    def settings(self, sender="RDV"):
        return brevo_settings(self, sender)

    @property
    def messages(self):
        from .brevo_standin import AcceptedSms

        return [AcceptedSms.from_json(m) for m in http_json("GET", self.control_url + "/_standin/messages")["messages"]]

    def stats(self):
        return http_json("GET", self.control_url + "/_standin/stats")

    def wait_for_messages(self, count, timeout=10.0):
        poll(lambda: self.stats()["accepted"] >= count, timeout, lambda: f"{self.stats()} SMS, expected {count}")
        return self.messages

    def fail_next(self, count=1, status=500, code=None, message=None, reset=1):
        http_json("POST", self.control_url + "/_standin/fail", {"count": count, "status": status, "code": code,
                                                                "message": message, "reset": reset})

    def set_credits(self, credits):
        http_json("POST", self.control_url + "/_standin/credits", {"credits": credits})

    def deliver(self, message_id, status="delivered", extra=None):
        payload = {"message_id": message_id, "status": status, "extra": extra}
        return http_json("POST", self.control_url + "/_standin/deliver", payload)["http_status"]

    def reset(self):
        http_json("POST", self.control_url + "/_standin/reset")


class SMTPServerProcess(ManagedProcess):
    """`python -m tests.support.smtp_server` with the in-process server's API, over HTTP."""

    def __init__(self, name="smtp-server"):
        argv = [sys.executable, "-m", "tests.support.smtp_server", "--port", "0", "--control-port", "0"]
        super().__init__(argv, env=dict(os.environ, PYTHONUNBUFFERED="1"), name=name)

    def wait_ready(self, timeout=30.0):
        banner = _read_banner(self, timeout)
        self.host, self.port, self.control_url = banner["host"], banner["port"], banner["control_url"]
        return self

    def settings(self):
        return smtp_settings(self.host, self.port)

    @property
    def messages(self):
        from .smtp_server import ReceivedEmail

        return [ReceivedEmail.from_json(m) for m in http_json("GET", self.control_url + "/_standin/messages")["messages"]]

    def stats(self):
        return http_json("GET", self.control_url + "/_standin/stats")

    def wait_for_messages(self, count, timeout=10.0):
        poll(lambda: self.stats()["received"] >= count, timeout, lambda: f"{self.stats()} emails, expected {count}")
        return self.messages

    def fail_next(self, count=1, code=451, message=None, stage="data"):
        http_json("POST", self.control_url + "/_standin/fail", {"count": count, "code": code, "message": message, "stage": stage})

    def set_delay(self, seconds):
        http_json("POST", self.control_url + "/_standin/delay", {"seconds": seconds})

    def reset(self):
        http_json("POST", self.control_url + "/_standin/reset")


@contextmanager
def twilio_standin_process(**kwargs):
    """The Twilio stand-in in its own process (benchmarks, fault tests), ready when the block starts."""
    with TwilioStandinProcess(**kwargs) as standin:
        standin.wait_ready()
        yield standin


@contextmanager
def brevo_standin_process(**kwargs):
    """The Brevo stand-in in its own process, ready when the block starts."""
    with BrevoStandinProcess(**kwargs) as standin:
        standin.wait_ready()
        yield standin


@contextmanager
def smtp_server_process(**kwargs):
    """The SMTP server in its own process, ready when the block starts."""
    with SMTPServerProcess(**kwargs) as server:
        server.wait_ready()
        yield server
