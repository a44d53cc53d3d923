"""The public booking pages, kept in the shared cache (CACHES, Redis in production).

The pages before the contact form (home, a service's motifs, a motif's places, a week of free
slots) are the same for every citizen: no form, no session, no personal data. Under a rush
(a newly opened passport calendar, an SMS sent to thousands) rendering them is what the web
processes spend their CPU on, so they are rendered once and served from the cache.

A citizen must never see through this cache a slot already taken, so an entry is found
through versions that a committed change replaces:

- the catalogue version (`pages:v:catalogue`): organisations, services, places, motifs and
  opening hours. Any save or delete of one of them replaces it (signals below), which drops
  every cached page at once: these are rare edits in the admin.
- the slot version of a (motif, place) pair (`pages:v:slots:<motif>:<place or 0>`): replaced,
  once the transaction commits, whenever a booking, a change or a cancellation changes the
  calendar of an agent who has opening hours for that motif at that place
  (services._save_guarded and services.cancel call `calendars_changed`).

A version is a random token; "replacing" it is deleting it, and the next reader creates a new
one (cache.add). An entry (`pages:<language>:<page>`) holds the tokens it was rendered under and is served
only while they are the current ones; the tokens and the entry come in one round trip. A
reader takes the tokens *before* reading the database, so a page rendered from data older
than a commit carries a token that the commit has already replaced, or is about to: it is
never served again.

An entry is fresh for PUBLIC_PAGE_CACHE_SECONDS (15 s by default), less a random fifth so
that the entries rendered together in a rush do not all fall due in the same second: what
depends on the clock alone (the minimum lead time, the day changing) is at most that old, and
booking checks the slot again anyway (views.contact_details). A change made without our
services (bulk SQL, seed_demo --appointments) is likewise visible within that delay.

Once fresh time is over, one request renders the page again (it wins `cache.add` on the
entry's renewal key) while the others are still served the copy it replaces, for the few
milliseconds that render takes: under a rush a popular page never makes every worker render
it at once, nor a citizen wait for a render. Only an entry whose versions are current is served
this way (a booking's change is never late); if the renewing render fails, another request
renews once RENEW_SECONDS have passed, and an entry is never kept STALE_SECONDS past its fresh
time.

Each entry also holds its body gzipped, compressed once when it is rendered: served as it is to
the browsers that accept gzip (every browser does), it is 3.5 KB instead of 27 KB for a week of
slots, which a phone on a weak network fetches in a fraction of the time. These pages hold no
secret (no CSRF token, no personal data), so the BREACH padding GZipMiddleware adds to the
other pages is not needed here.

The cache must be shared by every web process (Redis): with a per-process cache (locmem), a
change made in one process would not reach the others, so the default turns the page cache off
unless CACHE_URL names a shared cache (rdv/settings.py).
"""

import logging
import random
import secrets
import time
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.middleware.gzip import re_accepts_gzip
from django.utils.cache import patch_vary_headers
from django.utils.text import compress_string
from django.utils.translation import get_language

logger = logging.getLogger(__name__)

CATALOGUE = "pages:v:catalogue"
# Versions outlive many entries; one that expires is simply created again (a cache miss).
VERSION_SECONDS = 24 * 3600
# Part of the key: an entry is (versions, fresh until, body, gzipped body); a process of the
# previous release, still running during a deploy, reads only entries of its own shape.
ENTRY_FORMAT = 2
# How long past its fresh time an entry may still be served while one request renews it, and
# how long that request holds the renewal before another may take it over.
STALE_SECONDS = 60
RENEW_SECONDS = 5


def slot_version_key(motif_id, place_id):
    return f"pages:v:slots:{motif_id}:{place_id or 0}"


def enabled():
    return settings.PUBLIC_PAGE_CACHE_SECONDS > 0


def _read(version_keys, entry_key):
    """One round trip: the versions' tokens and the entry. Missing versions are created
    (cache.add: the first reader's token wins). Returns (tokens, entry); tokens is None when
    a version could not be settled (replaced between our add and our read): don't cache."""
    found = cache.get_many([*version_keys, entry_key])
    tokens = []
    for key in version_keys:
        if key not in found:
            cache.add(key, secrets.token_hex(6), VERSION_SECONDS)
            found[key] = cache.get(key)
            if found[key] is None:
                return None, None
        tokens.append(found[key])
    return tokens, found.get(entry_key)


def cached_page(page_key):
    """Serve a public GET page from the cache. `page_key(request)` gives (name, version keys)
    from the raw request — no database query, so that a hit is one cache round trip — or None
    when the request is not one to cache (odd parameters: the view answers as usual). An entry
    holds the versions it was rendered under and counts only while they are current. Only 200
    answers are stored. The decorators outside this one (Cache-Control: private, no-store…)
    apply to hits too."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            spec = page_key(request) if enabled() and request.method in ("GET", "HEAD") else None
            if spec is None:
                return view(request, *args, **kwargs)
            name, version_keys = spec
            entry_key = f"pages:{ENTRY_FORMAT}:{get_language()}:{name}"
            try:
                tokens, entry = _read(version_keys, entry_key)
                if entry is not None and entry[0] == tokens and (time.time() < entry[1] or not _renewal_won(entry_key)):
                    return _cached_response(request, *entry[2:])
            except Exception:  # the cache server being down must not take the pages down
                logger.warning("public page cache unreachable", exc_info=True)
                return view(request, *args, **kwargs)
            # Rendered after reading the versions: a commit between the two leaves this copy
            # under a version it has replaced (or is about to), never served. The copy is
            # served to everyone: these pages hold no per-request value (no form, no CSRF
            # token, no CSP nonce: the public base template uses none).
            response = view(request, *args, **kwargs)
            if tokens is not None and response.status_code == 200 and not response.streaming and not response.cookies:
                fresh_for = settings.PUBLIC_PAGE_CACHE_SECONDS * random.uniform(0.8, 1.0)
                try:
                    cache.set(entry_key, (tokens, time.time() + fresh_for, response.content, compress_string(response.content)),
                              fresh_for + STALE_SECONDS)
                    cache.delete(_renewal_key(entry_key))
                except Exception:
                    logger.warning("public page cache unreachable", exc_info=True)
            return response

        return wrapped

    return decorator


def _cached_response(request, body, gzipped):
    if re_accepts_gzip.search(request.headers.get("Accept-Encoding", "")):
        response = HttpResponse(gzipped)
        response["Content-Encoding"] = "gzip"  # GZipMiddleware leaves it as it is
    else:
        response = HttpResponse(body)
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


def _renewal_key(entry_key):
    return f"{entry_key}:renewing"


def _renewal_won(entry_key):
    """True for the one request that renders an entry past its fresh time again."""
    return cache.add(_renewal_key(entry_key), 1, RENEW_SECONDS)


# --- Replacing versions, once the change is committed --------------------------------------------


def _drop(keys):
    try:
        cache.delete_many(list(keys))
    except Exception:
        # The entries expire after PUBLIC_PAGE_CACHE_SECONDS anyway; booking re-checks the slot.
        logger.warning("public page cache: versions not replaced", exc_info=True)


def catalogue_changed():
    """Organisations, services, places, motifs or opening hours changed: every page goes."""
    if enabled():
        transaction.on_commit(lambda: _drop([CATALOGUE]), robust=True)


def calendars_changed(agent_ids):
    """These agents' appointments changed: the slot pages of every (motif, place) where they
    have opening hours go, once the transaction commits (so that a reader cannot render the
    old calendar under the new version)."""
    if not enabled():
        return
    agent_ids = sorted(set(agent_ids))
    if agent_ids:
        transaction.on_commit(lambda: _drop(_slot_keys(agent_ids)), robust=True)


def _slot_keys(agent_ids):
    from .models import OpeningHours

    pairs = OpeningHours.motifs.through.objects.filter(openinghours__agent_id__in=agent_ids).values_list(
        "motif_id", "openinghours__place_id"
    ).distinct()
    keys = set()
    for motif_id, place_id in pairs:
        # On-site motifs are shown per place; the others (phone, home, video) gather every
        # place's hours on one page, keyed without a place.
        keys.add(slot_version_key(motif_id, place_id))
        keys.add(slot_version_key(motif_id, None))
    return keys


def _on_catalogue_change(sender, action="post_save", **kwargs):
    if action.startswith("post_"):  # m2m_changed also sends pre_add, pre_remove…
        catalogue_changed()


def connect_signals():
    """Called by AppointmentsConfig.ready: any write to what the pages list replaces the
    catalogue version (an agent removed takes its opening hours with it: their delete counts)."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from .models import Motif, OpeningHours, Organisation, Place, Service

    for model in (Organisation, Service, Place, Motif, OpeningHours):
        post_save.connect(_on_catalogue_change, sender=model, dispatch_uid=f"page_cache_save_{model.__name__}")
        post_delete.connect(_on_catalogue_change, sender=model, dispatch_uid=f"page_cache_delete_{model.__name__}")
    m2m_changed.connect(_on_catalogue_change, sender=OpeningHours.motifs.through, dispatch_uid="page_cache_hours_motifs")
