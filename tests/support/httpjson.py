"""The small HTTP plumbing the stand-ins share: a threaded server on 127.0.0.1 and JSON helpers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as separate writes: no 40 ms stall

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # tests read counts, not access logs

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self):
        body = self.read_body()
        return json.loads(body) if body else {}

    def send_json(self, status, payload, headers=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _ListeningHTTPServer(ThreadingHTTPServer):
    # A provider takes many connections at once; the default backlog (5) would leave a burst of
    # concurrent senders waiting a second for a SYN retry, which no real provider does.
    request_queue_size = 128


class BackgroundHTTPServer:
    """A ThreadingHTTPServer on 127.0.0.1 (port 0 = ephemeral) served from a daemon thread."""

    def __init__(self, handler_class, host="127.0.0.1", port=0):
        self.httpd = _ListeningHTTPServer((host, port), handler_class)
        self.httpd.daemon_threads = True
        self.thread = None

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="standin-http", daemon=True
        )
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class ServedStandin:
    """The lifecycle every HTTP stand-in shares: its BackgroundHTTPServer (`self._server`)
    started and stopped, and the stand-in usable as a context manager."""

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def http_json(method, url, payload=None, timeout=10):
    """Call a stand-in's control endpoint from another process; returns the decoded JSON."""
    import urllib.request

    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def session_from(address):
    """A requests session whose connections leave from `address` (one of 127.0.0.0/8): many
    distinct clients on one machine, as the rate limits and the surge defence see them."""
    import requests
    from requests.adapters import HTTPAdapter

    class Bound(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (address, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", Bound())
    return session
