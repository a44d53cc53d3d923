"""A URLconf that mounts anymail's webhooks directly, as rdv/urls.py once did: the system
check notifications.E006 must refuse it (tests/test_security_webhooks.py)."""

from django.urls import include, path

from rdv.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("webhooks/anymail/", include("anymail.urls")), *project_urlpatterns]
