"""The instant an SMS request is written to the provider's socket: what the at-most-once
window hangs on (notifications/liveness.py).

A record's "not yet requested" mark must go just before its request leaves: a worker killed
between the two leaves the record in doubt (flagged for an agent, never sent again). A sending
thread that removed its mark may still wait for the GIL, or build and encrypt its request,
while SEND_CONCURRENCY - 1 other threads do the same: a kill then leaves several records in
doubt that never reached the provider.

So the HTTP providers' connections (Twilio, Brevo: `mount()`) call the thread's pending hook
(`on_write()`: the mark's removal) themselves, under a lock of the process held until the
request's bytes are written: at most one record per process is ever between the two. A hook
that fails (the cache unreachable) leaves nothing written, and stays pending: a retry of the
connection fails the same way rather than send without it.
"""

import threading

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()
_writing = threading.Lock()


def on_write(hook):
    """Call `hook()` just before this thread's next request is written (None: no hook)."""
    _local.hook = hook


def pending():
    """The hook not called yet (the request never reached a connection), or None."""
    return getattr(_local, "hook", None)


def _write(request, *args, **kwargs):
    hook = pending()
    if hook is None:
        return request(*args, **kwargs)
    with _writing:
        hook()
        _local.hook = None
        return request(*args, **kwargs)


class _Connection(HTTPConnection):
    def request(self, *args, **kwargs):
        return _write(super().request, *args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def request(self, *args, **kwargs):
        return _write(super().request, *args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def mount(session, adapter=None):
    """Send `session`'s requests (http and https) through connections that call the hook;
    `adapter`: the one the session's library set up (its pool size), else requests' default."""
    adapter = adapter or HTTPAdapter()
    adapter.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _HTTPSPool}
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
