"""No import circle among notifications' modules, read from the source with `ast`: every
import counts, those inside functions too (a deferred import is how a circle hides), and
importing a.b.c imports the packages a and a.b first. The pure rules import neither the
database layer nor the queue. And since dispatch.py names its tasks instead of importing
them, a process that never imported notifications.tasks (a web process) still finds them."""

import ast
import graphlib
from pathlib import Path

from .production import production_env, run

PACKAGE = "notifications"
ROOT = Path(__file__).resolve().parent.parent


def modules():
    """{dotted name: path} of the package's modules (migrations aside: Django loads them)."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_names(name, path):
    """Every dotted name an import statement of this module may load."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)  # `from . import schedule`


def import_graph():
    found = modules()
    graph = {}
    for name, path in found.items():
        targets = set()
        for imported in imported_names(name, path):
            parts = imported.split(".")
            # a.b.c loads a, a.b and a.b.c
            targets |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(found)
        graph[name] = targets - {name}
    return graph


def test_the_graph_sees_the_imports_it_should():
    graph = import_graph()
    assert {"notifications.dispatch", "notifications.recipients", "notifications.models"} <= graph["notifications.planning"]
    assert "notifications.schedule" in graph["notifications.promises"]  # `from . import schedule`
    assert "notifications.models" in graph["notifications.mail"]  # an import inside a function
    assert "notifications.sms" in graph["notifications.sms.router"]  # a package's own __init__


def test_no_import_circle_among_notifications_modules():
    sorter = graphlib.TopologicalSorter(import_graph())
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_the_pure_rules_import_neither_the_database_nor_the_queue():
    found = modules()
    for name in ("notifications.recipients", "notifications.schedule"):
        imported = set(imported_names(name, found[name]))
        assert not {n for n in imported if n.startswith(("django.db", "celery"))}, name
        assert not imported & {"notifications.planning", "notifications.dispatch", "notifications.tasks",
                               "notifications.delivery", "notifications.reminders"}, name


WEB_PROCESS = """
import sys, django
django.setup()
import rdv  # noqa: F401  (its __init__ loads the Celery app, nothing of notifications)
from notifications import dispatch, planning, receivers  # noqa: F401  (what a booking request runs)
assert "notifications.tasks" not in sys.modules
print(dispatch.task("notifications.send_sms").name, dispatch.task("notifications.send_email_batch").name)
"""


def test_a_process_that_never_imported_the_tasks_still_enqueues_them_by_name():
    done = run(["-c", WEB_PROCESS], production_env())
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["notifications.send_sms", "notifications.send_email_batch"]
