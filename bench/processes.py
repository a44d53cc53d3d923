"""The real processes the benchmark measures, started as the tests start them
(tests/support/processes.py), in the bench's environment. Each is a context manager: started
by its `with` block, stopped at its end, its log printed if the block fails."""

import runpy

from tests.support.processes import CeleryWorker, GunicornProcess

from .env import BASE_DIR, bench_env


def worker(queues=None, concurrency=2, name="worker", **env):
    """`celery -A rdv worker -c 2`, quiet (its logging would cost the CPU being measured), the
    bench tasks included."""
    return CeleryWorker(bench_env(**env), concurrency=concurrency, queues=queues, loglevel="WARNING", name=name,
                        extra_args=["-I", "bench.tasks"])


def gunicorn(**env):
    """`gunicorn rdv.wsgi` with the production gunicorn.conf.py (its worker count), never
    recycling workers mid-measurement."""
    server = GunicornProcess(bench_env(**env), extra_args=["--max-requests", "0", "--log-level", "warning"])
    server.workers = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["workers"]
    return server
