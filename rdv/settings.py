"""Settings, all read from the environment (see ../shared/CONTRACT.md and README).

Every variable is optional: the embedded defaults run the whole system on one machine with
only Python (SQLite, a filesystem Celery transport, SMS and email kept in a readable outbox).
"""

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEV_SECRET_KEY = "django-insecure-dev-only-do-not-use-in-production"

env = environ.Env()

# Development mode is asked for, never assumed: without DEBUG=true (which `make run` and
# rdv/devrun.py set) these are production settings, and they refuse to start on the
# development SECRET_KEY. A deployment that forgets DEBUG fails closed, not open.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
# The HTTPS origins that may post forms (behind a proxy: https://rdv.example.fr).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "Production settings (DEBUG is false unless set to true) need a real SECRET_KEY "
            "(at least 32 characters, not the dev value). For development, set DEBUG=true (make run does)."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG=false needs ALLOWED_HOSTS.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "phonenumber_field",
    "anymail",
    "dsfr",
    "widget_tweaks",
    "csp",
    "axes",
    "appointments",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages gzipped for the browsers that accept it (citizens on a phone, a weak network), with
    # Django's BREACH padding; after WhiteNoise, which serves static files compressed already.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rdv.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "appointments.context_processors.site_config",
            ],
        },
    },
]

WSGI_APPLICATION = "rdv.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# A reused connection is checked before use, so a database restart costs one reconnect.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file in development.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Agents' passwords (admin, createsuperuser, changepassword): 12 characters at least, not like
# the user's name or email, not a common password, not all digits.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known IANA time zone.") from exc

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

PHONENUMBER_DEFAULT_REGION = "FR"
PHONENUMBER_DB_FORMAT = "E164"

# --- The product -------------------------------------------------------------------------

PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").geturl().rstrip("/")
REMINDER_DELAY_HOURS = env.int("REMINDER_DELAY_HOURS", default=48)
if not 1 <= REMINDER_DELAY_HOURS <= 24 * 14:
    raise ImproperlyConfigured("REMINDER_DELAY_HOURS must be between 1 and 336.")
# The default reminder schedule, for a motif an administrator gave none: one touch
# REMINDER_DELAY_HOURS before the start, on SMS and email (notifications/schedule.py).
# No reminder SMS in these local hours ("HH:MM-HH:MM", empty for none): one due then goes out
# REMINDER_QUIET_MARGIN_MINUTES before the window opens (20:30 for 21:00), so that a sweep's
# queue is through by 21:00; if that moment has passed, at the window's end, provided it
# still leaves REMINDER_MIN_NOTICE_HOURS before the start.
REMINDER_QUIET_HOURS = env.str("REMINDER_QUIET_HOURS", default="21:00-08:00")
REMINDER_QUIET_MARGIN_MINUTES = env.int("REMINDER_QUIET_MARGIN_MINUTES", default=30)
REMINDER_MIN_NOTICE_HOURS = env.int("REMINDER_MIN_NOTICE_HOURS", default=2)
if REMINDER_QUIET_HOURS and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", REMINDER_QUIET_HOURS):
    raise ImproperlyConfigured("REMINDER_QUIET_HOURS must read HH:MM-HH:MM (e.g. 21:00-08:00), or be empty.")
if not 0 <= REMINDER_QUIET_MARGIN_MINUTES <= 120 or not 0 <= REMINDER_MIN_NOTICE_HOURS <= 48:
    raise ImproperlyConfigured("REMINDER_QUIET_MARGIN_MINUTES must be 0 to 120, REMINDER_MIN_NOTICE_HOURS 0 to 48.")
# How often beat runs the reminder sweep (seconds): a due reminder waits at most this long, so
# at most 300.
REMINDER_SWEEP_SECONDS = env.int("REMINDER_SWEEP_SECONDS", default=60)
if not 1 <= REMINDER_SWEEP_SECONDS <= 300:
    raise ImproperlyConfigured("REMINDER_SWEEP_SECONDS must be between 1 and 300.")
# How often beat runs the recovery (notifications/recovery.py): the records of a worker that
# died are settled within this (plus the time to reach a free worker).
RECOVERY_SECONDS = env.int("RECOVERY_SECONDS", default=30)
if not 5 <= RECOVERY_SECONDS <= 900:
    raise ImproperlyConfigured("RECOVERY_SECONDS must be between 5 and 900.")
# The deep health check (/healthz?deep=1, notifications/health.py) answers 503 when the last
# reminder sweep ended longer ago than this, or when a notification has waited to go out
# (pending) longer than that. The sweep's limit leaves room for one late tick: at least two
# sweep intervals (5 minutes with the default interval).
HEALTH_SWEEP_MAX_SECONDS = env.int("HEALTH_SWEEP_MAX_SECONDS", default=max(300, 2 * REMINDER_SWEEP_SECONDS))
HEALTH_PENDING_MAX_SECONDS = env.int("HEALTH_PENDING_MAX_SECONDS", default=600)
if HEALTH_SWEEP_MAX_SECONDS <= REMINDER_SWEEP_SECONDS or HEALTH_PENDING_MAX_SECONDS < 60:
    raise ImproperlyConfigured("HEALTH_SWEEP_MAX_SECONDS must exceed REMINDER_SWEEP_SECONDS (it would fail between "
                               "two sweeps), and HEALTH_PENDING_MAX_SECONDS be at least 60.")

# --- Public pages (booking, appointment link) ----------------------------------------------

# Citizens' sessions (what the public pages remember: the appointment just booked, the links
# whose initials were given) end after this many seconds without use: public computers are
# shared. Agents' sessions have their own length, set at login (ADMIN_SESSION_AGE).
PUBLIC_SESSION_AGE = env.int("PUBLIC_SESSION_AGE", default=30 * 60)
if not 60 <= PUBLIC_SESSION_AGE <= 24 * 3600:
    raise ImproperlyConfigured("PUBLIC_SESSION_AGE must be between 60 and 86400 seconds.")
SESSION_COOKIE_AGE = PUBLIC_SESSION_AGE
# How long after its end an appointment's link keeps working; then it answers 404.
LINK_VALID_DAYS_AFTER = env.int("LINK_VALID_DAYS_AFTER", default=30)
# Citizens cannot book a slot starting sooner than this.
BOOKING_MIN_LEAD_MINUTES = env.int("BOOKING_MIN_LEAD_MINUTES", default=30)
# How far ahead the public pages offer slots.
BOOKING_MAX_WEEKS_AHEAD = env.int("BOOKING_MAX_WEEKS_AHEAD", default=12)
if LINK_VALID_DAYS_AFTER < 0 or BOOKING_MIN_LEAD_MINUTES < 0 or not 1 <= BOOKING_MAX_WEEKS_AHEAD <= 104:
    raise ImproperlyConfigured(
        "LINK_VALID_DAYS_AFTER and BOOKING_MIN_LEAD_MINUTES must be >= 0, BOOKING_MAX_WEEKS_AHEAD between 1 and 104."
    )


def _rate(variable, default):
    value = env.str(variable, default=default)
    try:
        count, seconds = (int(part) for part in value.split("/"))
        if count < 1 or seconds < 1:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(f"{variable}={value!r}: expected COUNT/SECONDS, e.g. 10/3600.") from None
    return count, seconds


# Rate limits of the public forms, (count, seconds), per client address and per phone number.
PUBLIC_RATE_LIMITS = {
    "book_ip": _rate("RATE_LIMIT_BOOK_IP", "10/3600"),
    "book_phone": _rate("RATE_LIMIT_BOOK_PHONE", "3/3600"),
    "cancel_ip": _rate("RATE_LIMIT_CANCEL_IP", "10/3600"),
    "initials_ip": _rate("RATE_LIMIT_INITIALS_IP", "10/900"),
    "initials_token": _rate("RATE_LIMIT_INITIALS_TOKEN", "5/900"),
    # The surge defence: public bookings of one motif's week (any slot, any address) per hour.
    "book_motif_week": _rate("RATE_LIMIT_BOOK_MOTIF_WEEK", "3/3600"),
}
# At most this many future appointments per phone number and per email address for one service
# through the public pages.
PUBLIC_BOOKINGS_PER_CONTACT = env.int("PUBLIC_BOOKINGS_PER_CONTACT", default=2)
if PUBLIC_BOOKINGS_PER_CONTACT < 1:
    raise ImproperlyConfigured("PUBLIC_BOOKINGS_PER_CONTACT must be at least 1.")
# Our own reverse proxies (addresses or networks, comma-separated): only requests coming from
# them have their forwarding headers read (appointments.ratelimit.client_address), from the
# right of X-Forwarded-For. Empty (the default): no proxy, the client is REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    for _proxy in TRUSTED_PROXIES:
        ipaddress.ip_network(_proxy.strip(), strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None
# Instead of X-Forwarded-For, a header that our trusted proxy overwrites with the one address
# it saw (e.g. HTTP_X_REAL_IP); read only on requests from TRUSTED_PROXIES.
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
# The rate limits' counters live in the cache: local memory by default, Redis in production
# (CACHE_URL=redis://127.0.0.1:6379/1), shared by all web processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "rdv.cache.RedisCache"  # the same, keeping its Redis clients (rdv/cache.py)
# The public booking pages (home, motifs, places, free slots) are served from that cache for
# this many seconds at most, and dropped at once when a committed change touches them
# (appointments/page_cache.py). Only with a cache shared by every web process: a per-process
# cache would miss the changes made in the other processes, so the default is 0 (off) there.
_SHARED_CACHE = not CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
PUBLIC_PAGE_CACHE_SECONDS = env.int("PUBLIC_PAGE_CACHE_SECONDS", default=15 if _SHARED_CACHE else 0)
if not 0 <= PUBLIC_PAGE_CACHE_SECONDS <= 300:
    raise ImproperlyConfigured("PUBLIC_PAGE_CACHE_SECONDS must be between 0 (off) and 300.")
# django-dsfr: mark optional fields rather than required ones, as the DSFR now recommends.
DSFR_MARK_OPTIONAL_FIELDS = True

# --- Celery --------------------------------------------------------------------------------

BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The server-less development transport: one folder of message files, read by the worker
    # process. Fanout (remote control, events for Flower) goes through the control folder.
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# One time zone for a person: Flower shows task times in Celery's zone, the admin in TIME_ZONE,
# so both are TIME_ZONE (and the retention's crontab below reads in it). Message times inside
# Celery stay UTC (enable_utc).
CELERY_TIMEZONE = TIME_ZONE
# Notifications go through their own queues, so that an SMS provider outage backing up the
# "sms" queue delays no email; a plain `celery -A rdv worker` consumes all three (the
# declared queues), `-Q sms` etc. splits them over workers.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# The periodic jobs (the sweep, the recovery, retention) have a queue of their own ("periodic"),
# so that they never wait behind thousands of batches.
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "routing_key": name} for name in ("celery", "periodic", "sms", "email")
}
CELERY_TASK_ROUTES = {
    "notifications.send_due_reminders": {"queue": "periodic"},
    "notifications.recover_stalled": {"queue": "periodic"},
    "notifications.apply_retention": {"queue": "periodic"},
    "notifications.send_sms": {"queue": "sms"},
    "notifications.send_email": {"queue": "email"},
    "notifications.send_sms_batch": {"queue": "sms"},
    "notifications.send_email_batch": {"queue": "email"},
}
CELERY_BEAT_SCHEDULE = {
    "send-due-reminders": {"task": "notifications.send_due_reminders", "schedule": float(REMINDER_SWEEP_SECONDS)},
    "recover-stalled-notifications": {"task": "notifications.recover_stalled", "schedule": float(RECOVERY_SECONDS)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Personal data retention (notifications/retention.py), daily at 03:30 in TIME_ZONE.
CELERY_IMPORTS = ["notifications.retention"]
# Connections are reused across tasks and recycled by rdv.celery's close_old_connections
# (CONN_MAX_AGE, errors), not closed by Celery's Django fixup after every task.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULE["apply-retention"] = {
    "task": "notifications.apply_retention", "schedule": crontab(hour=3, minute=30),
}
# Beat answers `celery inspect ping` (its container health check) on a real broker.
CELERY_BEAT_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_URL.startswith("filesystem://")

# --- Email -------------------------------------------------------------------------------

VAR_DIR.mkdir(exist_ok=True)
# The default outbox stores emails in the database, readable in the admin.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="notifications.mail.OutboxEmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "outbox" / "email"
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="RDV Service Public <ne-pas-repondre@rdv.example.fr>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# anymail's own settings, passed through as they are (ANYMAIL_<ESP>_API_KEY, ...).
ANYMAIL = {
    key[len("ANYMAIL_"):]: value for key, value in env.ENVIRON.items() if key.startswith("ANYMAIL_")
}

# --- SMS -----------------------------------------------------------------------------------

SMS_BACKEND = env.str("SMS_BACKEND", default="outbox")
# The ordered providers ("twilio,brevo"): the first whose circuit breaker is closed takes each
# message; the next takes over while one is failing. Empty: SMS_BACKEND alone.
SMS_BACKENDS = env.list("SMS_BACKENDS", default=[])
# The providers of a territory's organisations, named by its time zone (the organisation's
# « fuseau horaire »), in the order SMS_BACKENDS has: "America/Guadeloupe=brevo,twilio;
# Indian/Reunion=brevo". Other territories take SMS_BACKENDS; an organisation's own route
# (admin) comes before both. Checked at start-up (notifications.E012); notifications/sms/routes.py.
SMS_BACKENDS_BY_TERRITORY = env.str("SMS_BACKENDS_BY_TERRITORY", default="")
# A provider's breaker opens after this many transient failures in a row (at once on
# "credits exhausted"), for this many seconds, then lets one message probe it.
SMS_BREAKER_FAILURES = env.int("SMS_BREAKER_FAILURES", default=5)
SMS_BREAKER_OPEN_SECONDS = env.int("SMS_BREAKER_OPEN_SECONDS", default=60)
# Can the deployment's SMS sender receive replies? French business SMS go out from
# alphanumeric sender ids (ARCEP reserves 06/07 numbers for person-to-person use), which
# cannot: then no text promises "répondez STOP", and opting out is offered on the
# appointment's link page. True only with a sender number or short code that receives
# replies (its inbound webhook pointed at /webhooks/twilio/inbound).
SMS_SENDER_RECEIVES_REPLIES = env.bool("SMS_SENDER_RECEIVES_REPLIES", default=False)
# The alphanumeric sender id (at most 11 characters) of each brand: the SMS comes "de la
# part de" its brand, as the citizen's phone shows the sender, so the text need not spend
# its first 21 characters on "RDV Service Public : ". "brand=sender,brand=sender"; empty:
# every SMS goes from TWILIO_FROM and starts with the brand's name. Not used when the sender
# receives replies (SMS_SENDER_RECEIVES_REPLIES): an alphanumeric id cannot.
SMS_SENDER_IDS = {
    brand.strip(): sender.strip()
    for brand, _, sender in (
        item.partition("=") for item in env.str(
            "SMS_SENDER_IDS", default="rdv_service_public=RDV S.P.,rdv_solidarites=RdvSoli,rdv_aide_numerique=RdvAideNum",
        ).split(",") if item.strip()
    )
}
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_API_BASE_URL = env.url("TWILIO_API_BASE_URL", default="https://api.twilio.com").geturl().rstrip("/")
# Brevo's transactional SMS (https://developers.brevo.com/reference/sendtransacsms).
BREVO_API_KEY = env.str("BREVO_API_KEY", default="")
BREVO_SMS_SENDER = env.str("BREVO_SMS_SENDER", default="")  # used when the brand has no sender id
BREVO_API_BASE_URL = env.url("BREVO_API_BASE_URL", default="https://api.brevo.com/v3").geturl().rstrip("/")
# "user:password" that Brevo gives back (basic auth in the webUrl we send with every SMS).
BREVO_WEBHOOK_SECRET = env.str("BREVO_WEBHOOK_SECRET", default="")

# --- Notification delivery -------------------------------------------------------------------

# Against SMS pumping and harassment (notifications/limits.py): the most SMS that unauthenticated
# actions (public bookings, cancellations from the link page) may trigger per hour, all numbers
# together (README, "Sizing the SMS budget"); the most SMS one number, and emails one address,
# receive in a day, all events and contacts together. Counted in the cache (CACHE_URL: Redis).
SMS_BUDGET_PUBLIC_PER_HOUR = env.int("SMS_BUDGET_PUBLIC_PER_HOUR", default=200)
SMS_PER_NUMBER_PER_DAY = env.int("SMS_PER_NUMBER_PER_DAY", default=6)
EMAIL_PER_ADDRESS_PER_DAY = env.int("EMAIL_PER_ADDRESS_PER_DAY", default=6)
if SMS_BUDGET_PUBLIC_PER_HOUR < 0 or SMS_PER_NUMBER_PER_DAY < 1 or EMAIL_PER_ADDRESS_PER_DAY < 1:
    raise ImproperlyConfigured(
        "SMS_BUDGET_PUBLIC_PER_HOUR must be >= 0, SMS_PER_NUMBER_PER_DAY and EMAIL_PER_ADDRESS_PER_DAY >= 1."
    )

# The rate agreed with each provider ("100/s", "20/m", "1000/h"), provider-wide: shared by all
# workers through the Redis of CACHE_URL (notifications/throttle.py); empty = none.
SMS_RATE_LIMIT = env.str("SMS_RATE_LIMIT", default="100/s") or None
EMAIL_RATE_LIMIT = env.str("EMAIL_RATE_LIMIT", default="200/s") or None
# Transient failures are retried with exponential back-off (first delay in seconds,
# doubling, capped at 10 minutes, with jitter), then recorded as failed.
NOTIFICATIONS_RETRY_BACKOFF = env.int("NOTIFICATIONS_RETRY_BACKOFF", default=10)
NOTIFICATIONS_MAX_RETRIES = env.int("NOTIFICATIONS_MAX_RETRIES", default=8)
# Messages in flight per worker process (notifications/senders.py): a provider answering in
# 150 ms needs about rate x 0.15 s of them (measured: 32 per process); 1 sends one after the other.
SEND_CONCURRENCY = env.int("SEND_CONCURRENCY", default=32)
if not 1 <= SEND_CONCURRENCY <= 100:
    raise ImproperlyConfigured("SEND_CONCURRENCY must be between 1 and 100.")

# --- Personal data retention (RGPD) --------------------------------------------------------

# Days after the end of its appointment when a notification's text and recipient are erased
# (the reference service anonymises its receipts after 6 months).
RETENTION_NOTIFICATION_BODY_DAYS = env.int("RETENTION_NOTIFICATION_BODY_DAYS", default=180)
# Days after the end of their last appointment when a contact is anonymised (2 years).
RETENTION_CONTACT_DAYS = env.int("RETENTION_CONTACT_DAYS", default=730)
# How long a number the carrier reported unreachable for a maybe passing reason (Twilio 30003:
# phone off, out of coverage) gets no SMS after that failure (notifications/unreachable.py).
UNREACHABLE_TEMPORARY_DAYS = env.int("UNREACHABLE_TEMPORARY_DAYS", default=3)
if not 1 <= UNREACHABLE_TEMPORARY_DAYS <= 90:
    raise ImproperlyConfigured("UNREACHABLE_TEMPORARY_DAYS must be between 1 and 90.")
if RETENTION_NOTIFICATION_BODY_DAYS < 1 or RETENTION_CONTACT_DAYS < 1:
    raise ImproperlyConfigured("RETENTION_NOTIFICATION_BODY_DAYS and RETENTION_CONTACT_DAYS must be at least 1.")

# --- Flower --------------------------------------------------------------------------------

# The development login exists only in development; flowerconfig.py refuses to start Flower
# without FLOWER_BASIC_AUTH otherwise.
FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", default="admin:admin-dev" if DEBUG else "")

# --- Security in production ----------------------------------------------------------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Load balancers probe /healthz over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

LOGIN_URL = "admin:login"

# --- Agents' logins ---------------------------------------------------------------------------

# django-axes counts failed logins in the database (shared by every web process) and locks out
# an account after AXES_FAILURE_LIMIT failures from anywhere, and a client address after as
# many failures on any accounts, for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# Attempts and lockouts are kept in the database, for superusers in the admin (« Axes »), not
# written to the logs with the usernames and addresses they concern.
AXES_VERBOSE = False
# The client address as the rest of the app takes it (the right-most X-Forwarded-For entry not
# added by TRUSTED_PROXIES, else REMOTE_ADDR), never a forwarding header as the client wrote it.
AXES_CLIENT_IP_CALLABLE = "appointments.ratelimit.client_address"
# An agent's login lasts a working day, then the admin asks for the password again (Django's
# default session is two weeks). Set at login (appointments/logins.py), so that the citizens'
# sessions keep their own length (SESSION_COOKIE_AGE).
ADMIN_SESSION_AGE = env.int("ADMIN_SESSION_AGE", default=9 * 3600)
if not 300 <= ADMIN_SESSION_AGE <= 24 * 3600:
    raise ImproperlyConfigured("ADMIN_SESSION_AGE must be between 300 and 86400 seconds.")

# Content-Security-Policy (django-csp), on every response, development included so that a
# template that breaks it shows at once: only our own script files (the DSFR's, the admin's),
# styles, images and fonts, no inline script or style attribute, no framing, forms posting
# only to us.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Logs: JSON lines in production (LOG_FORMAT=json, the default with DEBUG=false), one line of
# text in development. Every handler redacts phone numbers and emails (rdv/logs.py); code logs
# ids, never personal data.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_personal_data": {"()": "rdv.logs.RedactPersonalData"}},
    # Times in TIME_ZONE with their offset (rdv/logtime.py), as Flower and the admin show them.
    "formatters": {
        "plain": {"()": "rdv.logtime.PlainFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "rdv.logtime.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_personal_data"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own default handlers would print unfiltered text: route it through ours.
    "loggers": {"django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}},
}
# Celery workers keep Django's LOGGING (JSON, redacted) instead of installing their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
