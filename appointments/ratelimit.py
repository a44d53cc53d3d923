"""Rate limits of the public forms, counted in Django's cache (Redis in production).

Fixed windows: the first hit of a key starts a window of `seconds`; `count` hits are allowed
in it. Keys are hashed with the SECRET_KEY so that neither client addresses nor phone
numbers are stored in the cache as they are.
"""

import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache
from django.template.response import TemplateResponse


class RateLimited(Exception):
    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def client_address(request):
    header = settings.CLIENT_IP_HEADER
    if header and request.META.get(header):
        # A proxy's header may hold a list; the first address is the client's.
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def _key(rule, value):
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{rule}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"ratelimit:{rule}:{digest}"


def hit(rule, value):
    """Count one attempt for `value` under `rule` (a key of PUBLIC_RATE_LIMITS); raise
    RateLimited once the rule's count is exceeded within its window."""
    count, seconds = settings.PUBLIC_RATE_LIMITS[rule]
    key = _key(rule, value)
    if cache.add(key, 1, timeout=seconds):
        return
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add() and incr(): a new window
        cache.add(key, 1, timeout=seconds)
        return
    if used > count:
        raise RateLimited(seconds)


def rate_limited_response(request, error):
    response = TemplateResponse(
        request, "appointments/public/rate_limited.html", {}, status=429
    )
    response["Retry-After"] = str(error.retry_after)
    return response
