import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdv.settings")

app = Celery("rdv")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(**kwargs):
    """Keep a worker's database connection across tasks, as Django keeps a web process's
    across requests: closed when older than CONN_MAX_AGE or unusable after an error.

    Celery's Django fixup would otherwise close it around every task (CELERY_DB_REUSE_MAX
    in settings turns that off), and every notification sent would pay a new PostgreSQL
    connection.
    """
    if not getattr(kwargs.get("task") and kwargs["task"].request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()
