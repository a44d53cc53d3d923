"""rdv.settings plus the bench-only URLs (a bare view). Never used outside `make bench`."""

from rdv.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.urls"
# The bench only reads these; avoid compressing static files on the fly.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
