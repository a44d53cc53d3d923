"""The project's URLconf plus views that fail on purpose, for the error pages' tests
(tests/test_security_pages.py)."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import path

from rdv.urls import urlpatterns as project_urlpatterns


def forbidden(request):
    raise PermissionDenied


def suspicious(request):
    raise SuspiciousOperation("a test's suspicious request")


def broken(request):
    raise RuntimeError("a test's unexpected error")


urlpatterns = [
    path("tests/403", forbidden),
    path("tests/400", suspicious),
    path("tests/500", broken),
    *project_urlpatterns,
]
