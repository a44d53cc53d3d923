"""The shape of every SMS provider's webhook, as anymail's webhooks/base.py: verify the request
(a forged one gets 403 and changes nothing), parse it into normalised events, send each one by
a signal. A provider's view fills in `verify()` and `parse()`.

Mounted whatever SMS_BACKENDS says ("always authenticated, whatever backend is configured"): a
provider not configured has no secret, so its webhook refuses everything.
"""

import logging

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..signals import SmsInboundEvent, sms_inbound, sms_status

log = logging.getLogger(__name__)


class WebhookRefused(Exception):
    """The request does not come from the provider (bad or missing signature or credentials)."""


class WebhookInvalid(Exception):
    """Authentic, but not a report we can read (missing fields): 400 so the provider logs it."""


@method_decorator(csrf_exempt, name="dispatch")
class SmsWebhookView(View):
    provider = ""
    http_method_names = ["post"]

    def verify(self, request):  # pragma: no cover - interface
        """Raise WebhookRefused unless the request is the provider's."""
        raise NotImplementedError

    def parse(self, request):  # pragma: no cover - interface
        """The normalised events of the request (a list), or raise WebhookInvalid."""
        raise NotImplementedError

    def answer(self, request):
        return HttpResponse(status=204)

    def post(self, request, *args, **kwargs):
        try:
            self.verify(request)
        except WebhookRefused as refused:
            log.warning("%s webhook %s refused: %s", self.provider, request.path, refused)
            return HttpResponseForbidden("invalid signature")
        try:
            events = self.parse(request)
        except WebhookInvalid as invalid:
            return HttpResponseBadRequest(str(invalid))
        for event in events:
            signal = sms_inbound if isinstance(event, SmsInboundEvent) else sms_status
            signal.send(sender=type(self), event=event, provider=self.provider)
        return self.answer(request)
