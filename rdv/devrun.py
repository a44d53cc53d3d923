"""`make run`: the web app, a Celery worker with beat, and Flower, in the foreground.

On the embedded defaults the broker is kombu's filesystem transport; two of its quirks are
handled before anything starts (see prepare_filesystem_broker). Ctrl-C stops everything.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def prepare_filesystem_broker(broker_dir):
    """Work around two kombu filesystem-transport bugs seen with Flower.

    - Flower's parallel inspects race to create the pidbox reply exchange file and can
      corrupt it, leaving the worker list empty: create it up front, holding an empty table.
    - A stopped Flower leaves its `celeryev.*` binding in the event exchange, so events pile
      up in files nobody reads: reset the table and drop those files.
    """
    control, queue = broker_dir / "control", broker_dir / "queue"
    control.mkdir(parents=True, exist_ok=True)
    queue.mkdir(parents=True, exist_ok=True)
    (control / "reply.celery.pidbox.exchange").write_text(json.dumps([]))
    (control / "celeryev.exchange").write_text(json.dumps([]))
    for message in queue.iterdir():
        # file names are "<time>_<uuid>.<queue>.msg"; event queues are "celeryev.<uuid>"
        if message.name.partition(".")[2].startswith("celeryev."):
            message.unlink(missing_ok=True)


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdv.settings")
    # The development stack, explicitly (the settings default to production); the web app,
    # worker and Flower started below inherit it.
    os.environ.setdefault("DEBUG", "true")
    import django
    from django.conf import settings

    django.setup()
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        prepare_filesystem_broker(settings.BROKER_DIR)

    python = sys.executable
    celery = [python, "-m", "celery", "-A", "rdv"]
    commands = {
        "web": [python, "manage.py", "runserver", "127.0.0.1:8000", "--noreload"],
        "worker": celery + ["worker", "--beat", "--loglevel=INFO", "--concurrency=2",
                            f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}"],
        "flower": celery + ["flower", "--address=127.0.0.1", "--port=5555",
                            f"--basic-auth={settings.FLOWER_BASIC_AUTH}"],
    }
    processes = {}
    for name, command in commands.items():
        processes[name] = subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True)
        if name == "worker":
            time.sleep(2)  # let the worker bind its queues before Flower inspects it

    from appointments.demo import DEMO_PASSWORD

    user, _, password = settings.FLOWER_BASIC_AUTH.partition(":")
    print(
        "\n  Pages publiques : http://127.0.0.1:8000/"
        "\n  Espace agents   : http://127.0.0.1:8000/admin/  (admin, camille.martin, … — mot de passe "
        f"{DEMO_PASSWORD})"
        f"\n  Flower          : http://127.0.0.1:5555/  ({user} / {password})"
        "\n  Ctrl-C pour tout arrêter.\n",
        flush=True,
    )

    def stop(*_):
        for process in processes.values():
            if process.poll() is None:
                process.terminate()  # the leader shuts its own children down (warm shutdown)
        deadline = time.monotonic() + 10
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} stopped (exit {process.returncode}); stopping everything.", flush=True)
                stop()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
