"""Start and stop the real processes the benchmark measures (Celery worker, gunicorn)."""

import os
import signal
import socket
import subprocess
import time
import urllib.request

import psutil

from .env import BASE_DIR, PYTHON, bench_env

LOG_DIR = BASE_DIR / "var" / "bench"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(name, args, env):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "w")
    return subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process, timeout=30):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Worker:
    """`celery -A rdv worker -c 2` as a subprocess, the bench tasks included."""

    def __init__(self, queues=None, concurrency=2, name="worker", **env):
        self.node = f"{name}-{os.getpid()}@bench"
        args = [PYTHON, "-m", "celery", "-A", "rdv", "worker", "-c", str(concurrency), "-n", self.node,
                "-I", "bench.tasks", "--without-gossip", "--without-mingle", "-l", "WARNING"]
        if queues:
            args += ["-Q", ",".join(queues)]
        self.process = _spawn(name, args, bench_env(**env))

    def wait_ready(self, timeout=60):
        from rdv.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited ({self.process.returncode}), see {LOG_DIR}/")
            if app.control.ping(destination=[self.node], timeout=0.5):
                return
        raise RuntimeError("worker did not answer ping")

    def rss_mb(self):
        """Resident memory of each worker process: the main one and its pool children."""
        main = psutil.Process(self.process.pid)
        processes = [main, *main.children(recursive=True)]
        return [round(p.memory_info().rss / 2**20, 1) for p in processes]

    def stop(self):
        stop(self.process, timeout=60)


class Gunicorn:
    """`gunicorn rdv.wsgi` with the production gunicorn.conf.py (workers), on a free port."""

    def __init__(self, workers=None, wsgi="rdv.wsgi"):
        import runpy

        self.workers = workers or runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["workers"]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [PYTHON, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--max-requests", "0", "--log-level", "warning"]
        self.process = _spawn("gunicorn", args, bench_env())

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited, see {LOG_DIR}/gunicorn.log")
            try:
                urllib.request.urlopen(self.url + "/bench/bare", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer")

    def stop(self):
        stop(self.process)
