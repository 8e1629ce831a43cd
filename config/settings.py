"""Tagdesk settings.

Everything that differs between a laptop and production comes from environment variables;
there is no second settings module. ``DJANGO_ENV=production`` switches on the secure defaults.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development").strip().lower()
PRODUCTION = DJANGO_ENV == "production"
TESTING = "pytest" in sys.modules

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production")
    # A per-process key: fine for tests and a throwaway dev server, useless for real use
    # (sessions die with the process), so there is never a fixed default to leak.
    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "config.edge.apps.TagdeskAdminConfig",  # django.contrib.admin with our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "config.devserver",  # runserver: whitenoise's, with room for a burst of connections
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "drf_standardized_errors",
    "simple_history",
    "django_tasks",
    "config.edge.apps.JobsConfig",  # django-tasks-db: the jobs table and its admin
    "config.events",
    "config.webhooks",
    "customers",
    "tags",
    "statuses",
    "segments",
    "config.edge",  # the edge: root URLs, admin site, dashboard, commands spanning every app
    # Last, so its post_migrate hook sees every other app's permissions.
    "config.api",
]

MIDDLEWARE = [
    "config.observability.RequestIdMiddleware",
    # Who is acting (user or API token) and the request id, for the event log.
    "config.context.RequestContextMiddleware",
    # Outermost after the request id: it sees every error response, debug pages included.
    "config.middleware.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.BothSlashFormsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.edge.urls"
# Both slash forms of a route are served in place (config.middleware.BothSlashFormsMiddleware):
# never a redirect, which would turn a POST into a GET.
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite (a WAL file next to manage.py) unless DATABASE_URL is set. SQLite transactions start
# IMMEDIATE so concurrent writers queue on the write lock instead of failing half-way.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Persistent connections only where the server reuses its threads: config/gunicorn.py sets
# DB_CONN_MAX_AGE for its workers. runserver (make run) starts a thread per client connection,
# and a kept database connection per thread would let 100 idle clients hold 100 of PostgreSQL's.
DB_CONN_MAX_AGE = 0 if "runserver" in sys.argv else env_int("DB_CONN_MAX_AGE", 0)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if test_name := os.environ.get("TEST_DATABASE_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": test_name}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["config.auth.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the docs pages' start script and style
# Outside production whitenoise serves the apps' static files straight from their folders, so
# `make run` (DEBUG off) serves the admin's CSS without collectstatic; production serves the
# collected, hashed copies.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Bodies over 1 MB are refused with 413 by the API.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1_048_576)
# The admin's "select all N matching" posts ids in pages, never all of them.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 12_000

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        if (url := os.environ.get("CACHE_URL", "")).startswith("redis")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Background jobs ------------------------------------------------------------------------
# Django's tasks API (the django-tasks backport; django.tasks from Django 6). The database
# backend needs nothing but the database (`manage.py run_worker` works its queue); RQ on Redis
# scales out: TASKS_BACKEND=rq, or a REDIS_URL without TASKS_BACKEND. docs/decisions.md, "Jobs".
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "").strip().lower() or (
    "rq" if REDIS_URL else "database"
)
if TASKS_BACKEND not in {"database", "rq"}:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be 'database' or 'rq', got {TASKS_BACKEND!r}")
# The one queue the project's jobs go to. Test runs name their own, so two runs sharing one
# Redis never work each other's jobs.
TASKS_QUEUE = os.environ.get("TASKS_QUEUE", "").strip() or (
    f"tagdesk-test-{os.getpid()}" if TESTING else "default"
)
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.insert(INSTALLED_APPS.index("config.edge.apps.JobsConfig"), "django_rq")
    _redis = {"URL": REDIS_URL or "redis://127.0.0.1:6379/0"}
    # django-rq fetches jobs by id through its "default" connection.
    RQ_QUEUES = {"default": _redis, TASKS_QUEUE: _redis}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [TASKS_QUEUE]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": [TASKS_QUEUE]}}
# A database-backend job still marked running this long after it started lost its worker
# (killed, machine gone): the periodic run marks it failed (its work is redone by the next run).
JOBS_ABANDONED_AFTER_SECONDS = env_int("JOBS_ABANDONED_AFTER_SECONDS", 3600)
# Finished jobs are kept this long in the jobs table (the admin's list), then pruned.
JOBS_RETENTION_DAYS = env_int("JOBS_RETENTION_DAYS", 14)
# How often `make run` (and `manage.py enqueue_periodic --every`) enqueues the periodic jobs.
PERIODIC_JOBS_EVERY_SECONDS = env_int("PERIODIC_JOBS_EVERY_SECONDS", 300)

# --- Event log ------------------------------------------------------------------------------
# Events older than this are pruned by the periodic job; the feed replays anything younger.
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 30)
# A change-set may be reverted this many days after it finished (its history rows stay).
CHANGE_SET_RETENTION_DAYS = env_int("CHANGE_SET_RETENTION_DAYS", 30)
# bulk_tag over this many customers runs on the job engine (202), this many customers a batch;
# a background run with no progress for CHANGE_SET_STALE_SECONDS lost its worker: the periodic
# schedule runs it again from its cursor.
CHANGE_SET_SYNC_MAX = env_int("CHANGE_SET_SYNC_MAX", 1000)
CHANGE_SET_BATCH_SIZE = env_int("CHANGE_SET_BATCH_SIZE", 1000)
CHANGE_SET_STALE_SECONDS = env_int("CHANGE_SET_STALE_SECONDS", 300)

# --- Webhooks (config/webhooks/; docs/decisions.md, "Webhooks") ------------------------------
# Destinations resolving to private, loopback or link-local addresses are refused unless this is
# on: on under `make run` (which sets it), with DEBUG and in tests (a receiver on 127.0.0.1);
# off otherwise, and by default in production.
WEBHOOK_ALLOW_PRIVATE = env_bool(
    "WEBHOOK_ALLOW_PRIVATE", default=(TESTING or DEBUG) and not PRODUCTION
)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 15)
# How often the dispatch job turns events into deliveries and wakes workers to send the due ones.
WEBHOOK_DISPATCH_SECONDS = env_int("WEBHOOK_DISPATCH_SECONDS", 1)
# A worker claims up to this many due deliveries at a time and sends them over this many
# connections at once (keep-alive; at most 4 to one endpoint).
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 100)
WEBHOOK_SEND_THREADS = env_int("WEBHOOK_SEND_THREADS", 8)
if WEBHOOK_BATCH_SIZE < 1 or WEBHOOK_SEND_THREADS < 1:
    raise ImproperlyConfigured("WEBHOOK_BATCH_SIZE and WEBHOOK_SEND_THREADS must be at least 1")
# A PEM file of certificate authorities trusted for https endpoints besides the system's (an
# internal CA; the tests' receiver). Verification itself cannot be turned off.
WEBHOOK_CA_BUNDLE = os.environ.get("WEBHOOK_CA_BUNDLE", "").strip()
# An endpoint failing (no success) for this long is disabled, with a notice in the admin.
WEBHOOK_DISABLE_AFTER_DAYS = env_int("WEBHOOK_DISABLE_AFTER_DAYS", 5)
# The retry schedule's waits are multiplied by this (fault drills and tests compress them).
try:
    WEBHOOK_RETRY_SCALE = float(os.environ.get("WEBHOOK_RETRY_SCALE") or 1)
except ValueError as exc:
    raise ImproperlyConfigured("WEBHOOK_RETRY_SCALE must be a number") from exc

# --- Production hardening -------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only for trying production settings over plain http on loopback (make serve).
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp) on every response: scripts, styles, images and requests
# from this site only, so the admin and the API docs load nothing from elsewhere and no inline
# script runs. Styles allow inline: Redoc and Swagger UI inject <style> elements and the
# dashboard's bars are sized by style attributes. Images allow data: (the admin's icon, Swagger
# UI's), workers blob: (Redoc's search).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# django-simple-history's admin "revert" would write past the services' rules (it could bring a
# deleted tag back to life): history pages are read-only; changes go through the forms.
SIMPLE_HISTORY_REVERT_DISABLED = True
# History is read per object (by id, customer or tag) and sorted there; a global index on
# history_date would only be written, once per history row, by every bulk change.
SIMPLE_HISTORY_DATE_INDEX = False

# --- Domain settings ------------------------------------------------------------------------
MAX_TAGS_PER_CUSTOMER = env_int("MAX_TAGS_PER_CUSTOMER", 250)
MAX_TAG_NAMES_PER_REQUEST = 100
DEFAULT_STATUS_LABEL = os.environ.get("DEFAULT_STATUS_LABEL", "Active")
# Segment rules are cached per process; other processes pick up a change within this time.
SEGMENT_RULES_RECHECK_SECONDS = float(os.environ.get("SEGMENT_RULES_RECHECK_SECONDS", "2"))

# --- API ------------------------------------------------------------------------------------
# Requests per token (or per user / per client address without a token); "off" disables.
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "3000/min")
if API_THROTTLE_RATE.lower() in {"", "off", "none"}:
    API_THROTTLE_RATE = None
# ``last_used_at`` on a token is written at most this often, so reads stay reads.
API_TOKEN_LAST_USED_RESOLUTION_SECONDS = 60

# Failed sign-ins (admin login, API Basic, bad API tokens) lock the client address or the
# username for the window once a limit is reached (config/auth_failures.py).
AUTH_FAILURES_PER_USERNAME = env_int("AUTH_FAILURES_PER_USERNAME", 10)
AUTH_FAILURES_PER_ADDRESS = env_int("AUTH_FAILURES_PER_ADDRESS", 50)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 900)
# Proxies in front of the app whose X-Forwarded-For entries are trusted for the client address
# (throttles and the sign-in brake): production runs behind one TLS proxy.
NUM_PROXIES = env_int("NUM_PROXIES", 1 if PRODUCTION else 0)

REST_FRAMEWORK = {
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.api.authentication.ApiTokenAuthentication",
        "config.api.authentication.ThrottledBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.permissions.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.TokenRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "config.api.renderers.ApiJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "config.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "config.api.exceptions.ApiExceptionHandler",
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "ALLOWED_ERROR_STATUS_CODES": [
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "409",
        "412",
        "413",
        "415",
        "422",
        "429",
        "500",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tagdesk API",
    "DESCRIPTION": (
        "Customers, their tags, tag-rule segments and status labels.\n\n"
        "Authenticate with `Authorization: Bearer <token>` (or `Token <token>`); HTTP Basic works "
        "for users with a password. Errors share one shape: "
        '`{"type", "errors": [{"code", "detail", "attr"}]}`; each operation\'s 400 lists the '
        "`attr`/`code` pairs it can answer (also as `x-validation-errors`). Lists are cursor "
        "pages; `X-Datetime-Format: unix_ms` turns every datetime into UNIX milliseconds."
    ),
    "VERSION": "1.0.0",
    "SERVERS": [
        {
            "url": "/",
            "description": "This server: production, staging or local development, wherever "
            "the schema was read from",
            "x-internal": False,
        }
    ],
    "TAGS": [
        {"name": "customers", "description": "Customers, tagging them, their status."},
        {"name": "customer_tags", "description": "Tags (Payiano's customer tags)."},
        {"name": "segments", "description": "Customers selected by tag rules."},
        {"name": "statuses", "description": "Statuses and the labels under them."},
        {"name": "status_labels", "description": "Status labels (unique names)."},
        {"name": "events", "description": "The change feed: every change, in order, no gaps."},
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Two "type" enums (a tag history entry's, an event actor's) each keep a name of their own.
    "ENUM_NAME_OVERRIDES": {
        "TypeEnum": ["created", "changed", "deleted", "restored", "deleted_permanently"],
        "EventActorTypeEnum": "config.events.models.ACTOR_TYPE_CHOICES",
        "ChangeSetKindEnum": "tags.models.ChangeSet.Kind",
    },
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.openapi.postprocess_schema",
    ],
}

# JSON lines (with the request id) in production or with LOG_FORMAT=json; plain text otherwise.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.observability.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "config.observability.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR" if TESTING else "WARNING"}},
}
