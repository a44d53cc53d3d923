"""The app's URLs plus /bench/bare: a view that does nothing, through the same middleware,
the baseline of the pages benchmark."""

from django.http import HttpResponse
from django.urls import path

from rdv.urls import urlpatterns as app_urlpatterns


def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), *app_urlpatterns]
