"""The provider clients a worker thread sends with, and the threads that send concurrently.

A real provider answers in 100-300 ms. One message at a time, a process would deliver a few
messages a second whatever its CPU, so a batch hands its messages to a pool of SEND_CONCURRENCY
threads per worker process (messages in flight = rate x round trip). Those threads do nothing
but the provider's HTTP or SMTP exchange: every database read and write stays in the task's own
thread (one connection per process, no per-thread connections to pool).

Clients:
- SMS: one SmsRouter per thread for the life of the process, so each thread keeps its HTTP
  keep-alive session to each provider (no TLS handshake per message). Rebuilt when the SMS
  settings change (tests override them).
- Email: one connection per thread per task, closed at the task's end (an SMTP server drops idle
  connections; an ESP's session is cheap to open once per batch).

Backends that write to the database (the development outboxes) or to this process's memory
(locmem) are sent from the task's thread, one after the other: see `network_bound()`.
"""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.core.mail import get_connection
from django.core.signals import setting_changed
from django.dispatch import receiver

from .sms import configured_backends
from .sms.router import SmsRouter

_local = threading.local()
_generation = 0  # bumped when the SMS settings change: thread-local routers are rebuilt

# Email backends that send over the network (the others write to the database, a file, memory).
LOCAL_EMAIL_BACKENDS = ("locmem", "console", "filebased", "dummy", "notifications.mail.OutboxEmailBackend")


@receiver(setting_changed)
def _forget_clients(setting, **kwargs):
    global _generation
    if setting.startswith(("SMS_", "TWILIO_", "BREVO_")) or setting in ("EMAIL_BACKEND", "SEND_CONCURRENCY"):
        _generation += 1


def thread_router():
    """This thread's SmsRouter, kept across tasks."""
    router = getattr(_local, "router", None)
    if router is None or _local.generation != _generation:
        router = _local.router = SmsRouter()
        _local.generation = _generation
    return router


class Senders:
    """The clients one thread uses for one task: this thread's SMS router, an email connection
    opened at the first email and closed by close()."""

    def __init__(self):
        self._email = None

    def sms(self):
        return thread_router()

    def email(self):
        if self._email is None:
            self._email = get_connection()
            self._email.open()
        return self._email

    def email_failed(self):
        """After an error the connection may be half-broken: the next message opens anew."""
        self.close()

    def close(self):
        if self._email is not None:
            try:
                self._email.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass
            self._email = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def network_bound(channel):
    """Do this channel's backends send over the network (so sending concurrently pays)?"""
    if channel == "sms":
        return all(getattr(cls, "network", False) for cls in configured_backends())
    backend = settings.EMAIL_BACKEND
    module = backend.rpartition(".")[0].rpartition(".")[2]  # "smtp" in django.core.mail.backends.smtp.EmailBackend
    return backend not in LOCAL_EMAIL_BACKENDS and module not in LOCAL_EMAIL_BACKENDS


_pool = None
_pool_pid = None


def _shared_pool():
    """The process's sending threads (created after the worker forked, never inherited)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=settings.SEND_CONCURRENCY, thread_name_prefix="send")
        _pool_pid = os.getpid()
    return _pool


class SendingThreads:
    """Runs `send(*args, senders=...)` for one task: on the shared pool when the channel is
    network-bound and SEND_CONCURRENCY > 1, otherwise at once in the calling thread. Each
    thread gets its own Senders for this task; close() closes them all (call it when every
    future is done)."""

    def __init__(self, channel):
        self.concurrent = settings.SEND_CONCURRENCY > 1 and network_bound(channel)
        self.limit = settings.SEND_CONCURRENCY if self.concurrent else 1
        self._senders = {}
        self._lock = threading.Lock()

    def _thread_senders(self):
        ident = threading.get_ident()
        with self._lock:
            senders = self._senders.get(ident)
            if senders is None:
                senders = self._senders[ident] = Senders()
        return senders

    def _run(self, send, args):
        return send(*args, senders=self._thread_senders())

    def submit(self, send, *args):
        if self.concurrent:
            return _shared_pool().submit(self._run, send, args)
        future = Future()
        try:
            future.set_result(self._run(send, args))
        except BaseException as exc:  # handed to the caller through the future, as the pool does
            future.set_exception(exc)
        return future

    def close(self):
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
        for one in senders:
            one.close()
