"""Every SMS provider's webhooks, each under /webhooks/<provider>/ (its module's urlpatterns):
mounted whatever SMS_BACKENDS says, since a provider that is not configured has no secret and
refuses everything, and a provider just taken out of SMS_BACKENDS still reports on the
messages it took."""

from django.urls import include, path
from django.utils.module_loading import import_string

from . import BACKENDS

urlpatterns = []
for _name, _path in BACKENDS.items():
    _webhooks = import_string(_path).webhooks
    if _webhooks:
        urlpatterns.append(path(f"{_name}/", include(_webhooks)))
