"""Where the pipeline's CPU goes per message (issue 12's `pipeline_vs_noop`). Not part of
`make bench`: a tool to run by hand on the bench database (`make bench` or `--only pipeline`
first, so that it exists), under the bench lock like any bench.

    python -m bench.profile_pipeline [--appointments 2000] [--py-spy FILE] [--in-process]
    python -m bench.profile_pipeline --report FILE [--messages N]

- Worker run (always): what the pipeline bench's rate measures (reminders queued first, both
  stand-ins answering at once, a real 2-process worker), plus the CPU each process group used
  per message delivered: the worker, its PostgreSQL backends, Redis, the stand-ins. With
  `--py-spy FILE`, py-spy samples the worker's processes meanwhile, only threads holding the GIL
  (running Python: CPU, not waiting on a socket) (a development tool, not a
  dependency: `pip install py-spy`) and writes collapsed stacks; `--report FILE` turns them
  into a table (share of the worker's samples by function, self and inclusive).
- `--in-process`: one SMS batch and one email batch of 100 records run by Batch.run in this
  process, counting SQL statements and Redis commands per message (the worker run cannot see
  them without slowing it down).
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from .env import DB_NAME, activate

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU seconds used so far by these processes (the dead ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def pids_matching(text):
    """The processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_backends():
    # A backend's title names its database: "postgres: postgres rdv_bench_pipe 127.0.0.1(…) idle".
    return [pid for pid in pids_matching(f" {DB_NAME} ") if b"postgres:" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def worker_run(appointments, py_spy=None):
    from tests.support.processes import smtp_server_process, twilio_standin_process

    from . import broker, pipeline, processes

    with twilio_standin_process(validation="fast") as twilio, smtp_server_process() as smtp:
        worker_env = {**twilio.settings(), **smtp.settings(), "SMS_RATE_LIMIT": "", "EMAIL_RATE_LIMIT": ""}
        broker.flush()
        pipeline._due(appointments)
        _, sms, emails = pipeline._sweep()
        expected = sms + emails
        redis_pids = pids_matching("redis-server")
        standins = twilio.group_pids() + smtp.group_pids()
        before = {"redis": cpu_seconds(redis_pids), "stand-ins": cpu_seconds(standins)}
        backends_before = {pid: cpu_seconds([pid]) for pid in postgres_backends()}
        with processes.worker(name="profile-worker", **worker_env) as worker:
            spy = None
            if py_spy:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(worker.pid),
                                        "--subprocesses", "--gil", "--rate", "250", "--format", "raw", "--nonblocking",
                                        "--output", py_spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started = time.monotonic()
            counted, seconds = pipeline._time_deliveries(twilio, smtp, expected, worker)
            wall = time.monotonic() - started
            used = {
                "worker": cpu_seconds(worker.group_pids()),
                "postgres": sum(cpu_seconds([pid]) - backends_before.get(pid, 0) for pid in postgres_backends()),
                "redis": cpu_seconds(redis_pids) - before["redis"],
                "stand-ins": cpu_seconds(standins) - before["stand-ins"],
            }
            if spy:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    print(f"{expected} messages ({sms} SMS, {emails} emails); {counted} counted in {seconds:.2f} s: "
          f"{counted / seconds:.1f} msg/s (worker up to last delivery: {wall:.1f} s)")
    print("CPU per message delivered (ms), whole run including the worker's start:")
    for name, value in used.items():
        print(f"  {name:<10} {value * 1000 / expected:6.2f}   ({value:.2f} s)")
    return used


class RedisCounter:
    """Counts Redis round trips (a pipeline counts one) and commands, by command name."""

    def __init__(self):
        self.trips = 0
        self.commands = {}

    def __enter__(self):
        import redis

        self._patched = (redis.Redis.execute_command, redis.client.Pipeline.execute)
        counter = self
        original_command, original_execute = self._patched

        def execute_command(client, *args, **options):
            if not isinstance(client, redis.client.Pipeline):
                counter.trips += 1
                counter.commands[args[0]] = counter.commands.get(args[0], 0) + 1
            return original_command(client, *args, **options)

        def execute(pipe, *args, **options):
            counter.trips += 1
            for command in pipe.command_stack:
                name = command[0][0]  # (args, options)
                counter.commands[name] = counter.commands.get(name, 0) + 1
            return original_execute(pipe, *args, **options)

        redis.Redis.execute_command = execute_command
        redis.client.Pipeline.execute = execute
        return self

    def __exit__(self, *exc):
        import redis

        redis.Redis.execute_command, redis.client.Pipeline.execute = self._patched


def in_process(size=100):
    """One batch of each channel, run here: SQL statements and Redis round trips per message."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings
    from tests.support.processes import smtp_server_process, twilio_standin_process

    from notifications.batches import Batch
    from notifications.models import Notification, Status

    from . import broker, pipeline

    from notifications import liveness

    liveness._become_worker()  # named, with its lock: the liveness marks are made as in a worker
    with twilio_standin_process(validation="fast") as twilio, smtp_server_process() as smtp, \
            override_settings(**twilio.settings(), **smtp.settings(), SMS_RATE_LIMIT="", EMAIL_RATE_LIMIT=""):
        broker.flush()
        pipeline._due(size)
        pipeline._sweep()  # its batch tasks stay in the queue: no worker runs
        for channel in ("sms", "email"):
            ids = list(Notification.objects.filter(channel=channel, status=Status.PENDING)
                       .order_by("-pk").values_list("pk", flat=True)[:size])
            with CaptureQueriesContext(connection) as queries, RedisCounter() as redis_calls:
                counts = Batch(channel, ids).run()
            statements = {}
            for query in queries.captured_queries:
                verb = query["sql"].split(None, 1)[0].upper()
                statements[verb] = statements.get(verb, 0) + 1
            print(f"{channel}: {len(ids)} records, {counts}; SQL statements {len(queries)} "
                  f"({len(queries) / len(ids):.2f}/message) {statements}; Redis round trips {redis_calls.trips} "
                  f"({redis_calls.trips / len(ids):.2f}/message) {redis_calls.commands}")
        broker.flush()


def report(path, messages=None, top=90):
    """The py-spy samples by function: self and inclusive share of all the worker's samples
    (and, given the messages delivered, milliseconds of CPU per message at 250 samples/s)."""
    own, inclusive, per_process, total = {}, {}, {}, 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        count = int(count)
        total += count
        # A pool process's stacks start with its parent's, down to the fork: the last
        # "process" frame names the process that was sampled.
        last = max(i for i, frame in enumerate(frames) if frame.startswith("process "))
        process = frames[last].split(":", 1)[0]
        per_process[process] = per_process.get(process, 0) + count
        names = [re.sub(r":\d+\)$", ")", frame) for frame in frames[last + 1:]]  # no line numbers
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + count
        if names:
            own[names[-1]] = own.get(names[-1], 0) + count

    def ms(samples):
        return f"{samples * 4 / messages:6.3f}" if messages else "     -"

    print(f"{total} samples; by process: {per_process}")
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title:<10} %     ms/msg  function")
        for name, samples in sorted(table.items(), key=lambda item: -item[1])[:top]:
            print(f"{'':<10}{samples * 100 / total:5.1f}  {ms(samples)}  {name[:150]}")


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.profile_pipeline")
    parser.add_argument("--appointments", type=int, default=2000)
    parser.add_argument("--py-spy", help="write py-spy's collapsed stacks of the worker here")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--report", help="print the table of a --py-spy file")
    parser.add_argument("--messages", type=int, help="messages delivered during the --py-spy run (ms per message)")
    args = parser.parse_args()
    if args.report:
        return report(args.report, args.messages)
    activate()
    if args.in_process:
        in_process()
    else:
        worker_run(args.appointments, args.py_spy)


if __name__ == "__main__":
    main()
