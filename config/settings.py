"""Promptyard settings, driven by the environment.

DATABASE_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS, REDIS_URL and PROMPTYARD_* variables
configure a deployment; with none set, a development setup runs on SQLite under var/.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PROMPTYARD_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret(name: str, filename: str) -> str:
    """A secret from the environment, or one generated once into var/ for development."""
    value = os.environ.get(name)
    if value:
        return value
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = _secret("SECRET_KEY", "secret_key")
# Keyed hash for API keys: separate from SECRET_KEY so rotating sessions does not void keys.
API_KEY_HMAC_SECRET = _secret("PROMPTYARD_API_KEY_SECRET", "api_key_secret")
# Secret from which the Fernet key encrypting provider API keys at rest is derived.
FIELD_ENCRYPTION_SECRET = _secret("PROMPTYARD_FIELD_ENCRYPTION_SECRET", "field_encryption_secret")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "apps.core",
    "apps.accounts",
    "apps.teams",
    "apps.prompts",
    "apps.datasets",
    "apps.llm",
    "apps.experiments",
    "apps.playground",
    "apps.annotations",
    "apps.optimisation",
    "apps.traces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.content_policy.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.teams.middleware.TeamMiddleware",
    "apps.core.web.ServiceErrorMiddleware",
    # Last, so it sees the flag a refused sign-in sets and answers with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.teams.context_processors.team_navigation",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'promptyard.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web process and the worker write at once. WAL lets readers run beside the one
    # writer; IMMEDIATE takes the write lock when a transaction begins, so a transaction
    # never fails upgrading a read lock (SQLite answers that with an instant "database is
    # locked", whatever the timeout). The busy timeout is how long a writer waits for the
    # lock: longer than the heaviest write (a 3,000-span batch, about a second alone, more
    # behind a queue of them); synchronous=NORMAL is safe with WAL and shortens every
    # commit. A worker that still meets "database is locked" retries (apps.core.worker).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": float(os.environ.get("PROMPTYARD_SQLITE_TIMEOUT", 60)),
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in while the account or the client is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; outsiders are never granted anything
GUARDIAN_RAISE_403 = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "promptyard",
    }
}
# Rate-limit buckets (apps.core.throttling) in a cache of their own, so that nothing else
# evicts them. Local memory is per process: N worker processes admit up to N times each
# limit. With REDIS_URL every process and host shares them.
CACHES["throttle"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "promptyard-throttle",
    "OPTIONS": {"MAX_ENTRIES": 100_000},
}
if os.environ.get("REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
    }
    CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "KEY_PREFIX": "throttle",
    }

# Sessions are read from the cache (written through to the database), so a page view does
# not spend a query on them; with REDIS_URL the cache is shared by every process.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- sign-in throttling (django-axes) ----------------------------------------------------
# Failures count by account and, separately, by client; either reaching the limit within
# the cool-off closes sign-in (and password reset) for it until the cool-off has passed
# since its last failure. A success does not wipe the count: resetting per (account, IP)
# would let an attacker clear a victim's count by signing in to their own account.
AXES_FAILURE_LIMIT = int(os.environ.get("PROMPTYARD_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("PROMPTYARD_LOGIN_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_CALLABLE = "apps.accounts.throttle.attempt_username"
AXES_LOCKOUT_CALLABLE = "apps.accounts.throttle.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# Successful sign-ins are in the sessions; axes keeps only the failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# The client is REMOTE_ADDR unless the deployment says how many proxies it sits behind:
# trusting X-Forwarded-For by default would let a client name a new address per attempt.
if os.environ.get("PROMPTYARD_PROXY_COUNT"):
    AXES_IPWARE_PROXY_COUNT = int(os.environ["PROMPTYARD_PROXY_COUNT"])
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

# --- security headers (django-csp, django-permissions-policy) ----------------------------
# Every page runs on files from static/ only: no inline script, no inline <style> element,
# no eval (htmx's is switched off in base.html), no framing. Style *attributes* stay allowed
# (style-src-attr): a few pages size elements from data (trace waterfall bars, score
# bars); an attribute can neither run script nor load anything img-src would refuse.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Browser features no page uses, switched off for the page and anything it embeds. The
# copy buttons use the clipboard, so writing to it stays allowed for our own pages.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "autoplay": [],
    "camera": [],
    "clipboard-read": [],
    "clipboard-write": ["self"],
    "display-capture": [],
    "encrypted-media": [],
    "fullscreen": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "idle-detection": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "picture-in-picture": [],
    "publickey-credentials-get": [],
    "screen-wake-lock": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "promptyard@localhost")

TASKS = {
    "default": {
        "BACKEND": os.environ.get("PROMPTYARD_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.teams.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that answers JSON nested too deeply, or holding a
    # NUL character, with a 400 naming the place (apps.core.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.PromptyardAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Token buckets (apps.teams.throttles) per API key and per team on the whole API; a
    # team's owner may set the team's own (see PROMPTYARD_TEAM_LIMIT_MAX_FACTOR). Over a
    # limit: 429 with Retry-After and a body naming the limit. `api_bad_key`: failed API
    # keys per client address, past which that address's key attempts get 429 unchecked.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.teams.throttles.ApiKeyRateThrottle",
        "apps.teams.throttles.TeamRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("PROMPTYARD_API_KEY_RATE", "600/min"),
        "api_team": os.environ.get("PROMPTYARD_API_TEAM_RATE", "1200/min"),
        "api_bad_key": os.environ.get("PROMPTYARD_API_BAD_KEY_RATE", "30/min"),
    },
    # The client address is REMOTE_ADDR; behind N proxies of yours (PROMPTYARD_PROXY_COUNT,
    # as for sign-in lockouts) it comes from X-Forwarded-For, never trusted otherwise.
    "NUM_PROXIES": int(os.environ.get("PROMPTYARD_PROXY_COUNT") or 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Promptyard API",
    "DESCRIPTION": "Prompts, datasets, experiments, annotations and traces of one team.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Bodies are documented as JSON (what the SDK sends). The API also reads forms, where
    # an empty value means "not given": a contract of its own the schema does not promise.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # One name per choice set shared by several serializers (otherwise hashed names appear).
    "ENUM_NAME_OVERRIDES": {
        "PromptKindEnum": "apps.prompts.models.Kind",
        "ExampleSourceEnum": "apps.datasets.models.ExampleSource",
        # The dataset API's plain list of the same sources (values as labels).
        "ExampleSourceInputEnum": ["manual", "upload", "experiment", "trace", "annotation"],
        "ExperimentStatusEnum": "apps.experiments.models.Status",
        "SpanStatusEnum": "apps.traces.models.Status",
        "ExperimentKindEnum": "apps.experiments.models.ExperimentKind",
        "EvaluatorKindEnum": "apps.experiments.api.evaluators.evaluator_kinds",
    },
}

# Upload limits: datasets stream their files, so the whole-request cap only guards memory.
PROMPTYARD_IMPORT_MAX_BYTES = int(os.environ.get("PROMPTYARD_IMPORT_MAX_BYTES", 50 * 1024 * 1024))
# Budgets on what a tenant runs on shared CPU: an imported row wider (columns, keys) or
# deeper than these is refused naming its line; an experiment cell (model call and scoring)
# and an LLM-judge call are cut off past these many seconds, stored as an error, and the
# run goes on.
PROMPTYARD_IMPORT_MAX_COLUMNS = int(os.environ.get("PROMPTYARD_IMPORT_MAX_COLUMNS", 1000))
PROMPTYARD_IMPORT_MAX_DEPTH = int(os.environ.get("PROMPTYARD_IMPORT_MAX_DEPTH", 64))
PROMPTYARD_CELL_TIMEOUT_SECONDS = float(os.environ.get("PROMPTYARD_CELL_TIMEOUT_SECONDS", 300))
PROMPTYARD_EVALUATOR_TIMEOUT_SECONDS = float(
    os.environ.get("PROMPTYARD_EVALUATOR_TIMEOUT_SECONDS", 120)
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
PROMPTYARD_TRACE_MAX_BYTES = int(os.environ.get("PROMPTYARD_TRACE_MAX_BYTES", 8 * 1024 * 1024))
# Per-team limits outside DRF (apps.teams.throttles): tagged prompt fetches on the serving
# path, and trace ingestion at /v1/traces in spans and (decompressed) bytes per second,
# each with a burst allowance of PROMPTYARD_TRACE_BURST_SECONDS at that rate.
PROMPTYARD_SERVING_RATE = os.environ.get("PROMPTYARD_SERVING_RATE", "1000/s")
PROMPTYARD_TRACE_SPANS_RATE = os.environ.get("PROMPTYARD_TRACE_SPANS_RATE", "1000/s")
PROMPTYARD_TRACE_BYTES_RATE = os.environ.get("PROMPTYARD_TRACE_BYTES_RATE", f"{4 * 1024 * 1024}/s")
PROMPTYARD_TRACE_BURST_SECONDS = int(os.environ.get("PROMPTYARD_TRACE_BURST_SECONDS", "10"))
# Trace exports one team may have in progress at once in a process (read, parsed and
# written): the rest of the request threads stay free for the other teams.
PROMPTYARD_TRACE_TEAM_MAX_EXPORTS = int(os.environ.get("PROMPTYARD_TRACE_TEAM_MAX_EXPORTS", "2"))
# OTLP exports this large or larger (decompressed) are accepted with 200 and decoded and
# written by a task worker (apps.traces.exports); smaller ones (the OpenTelemetry SDK's
# 512-span batches) are written before the answer. 0 writes every export at once.
PROMPTYARD_TRACE_DEFER_BYTES = int(os.environ.get("PROMPTYARD_TRACE_DEFER_BYTES", str(1024 * 1024)))
# Task workers lower their own CPU priority by this much (os.nice) on start: background
# work (experiments, online rules, buckets) yields the CPU to requests people and
# applications are waiting on, whichever team the work belongs to. 0 keeps it level.
PROMPTYARD_WORKER_NICE = int(os.environ.get("PROMPTYARD_WORKER_NICE", "5"))
# CPUs the task workers and demo-echo keep to (apps/core/cpus.py): "" every CPU (a host of
# workers only), "auto" all but the first when there are two or more (`make run`: requests
# keep a core that background work never takes), or a list such as "1-3". A priority alone
# does not keep a busy worker out of a request's way.
PROMPTYARD_WORKER_CPUS = os.environ.get("PROMPTYARD_WORKER_CPUS", "")
# Seconds a web process's thread may hold the interpreter lock while another waits
# (config/wsgi.py): a bound on what one team's CPU-heavy request adds to another's.
PROMPTYARD_WEB_SWITCH_INTERVAL = float(os.environ.get("PROMPTYARD_WEB_SWITCH_INTERVAL", "0.001"))
# How far above the deployment's default a team owner may set the team's own limits.
PROMPTYARD_TEAM_LIMIT_MAX_FACTOR = int(os.environ.get("PROMPTYARD_TEAM_LIMIT_MAX_FACTOR", "10"))
# Where the bundled deterministic model server listens (make run starts it).
PROMPTYARD_DEMO_ECHO_URL = os.environ.get("PROMPTYARD_DEMO_ECHO_URL", "http://127.0.0.1:8765/v1")
# Fair shares of the task workers (apps/experiments/scheduling.py): how many experiment runs
# one team may have running at once across all workers, and how long a run keeps a worker
# before stepping aside for a waiting run (it resumes where it stopped).
PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS = int(
    os.environ.get("PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS", 1)
)
PROMPTYARD_EXPERIMENT_TURN_SECONDS = float(os.environ.get("PROMPTYARD_EXPERIMENT_TURN_SECONDS", 5))
# A worker that joined a running run (extra help on its shards) steps aside this soon once
# a queued run could start (looking every 0.1 s): help gives way first, so another team's
# small run starts within a fraction of a second even when one big run has every worker.
PROMPTYARD_EXPERIMENT_HELPER_TURN_SECONDS = float(
    os.environ.get("PROMPTYARD_EXPERIMENT_HELPER_TURN_SECONDS", 0.1)
)
# One run's cells are split into shards of about this many cells, which several worker
# processes (on several machines with one PostgreSQL) claim and run at once; a claim is a
# lease renewed with the worker's heartbeat, and a shard whose lease runs out (its worker
# died) is run by another. At most PROMPTYARD_EXPERIMENT_MAX_WORKERS workers join one run.
PROMPTYARD_EXPERIMENT_SHARD_CELLS = int(os.environ.get("PROMPTYARD_EXPERIMENT_SHARD_CELLS", 50))
PROMPTYARD_EXPERIMENT_SHARD_LEASE_SECONDS = float(
    os.environ.get("PROMPTYARD_EXPERIMENT_SHARD_LEASE_SECONDS", 10)
)
PROMPTYARD_EXPERIMENT_MAX_WORKERS = int(os.environ.get("PROMPTYARD_EXPERIMENT_MAX_WORKERS", 8))
# Provider base URLs reach public addresses only, unless the operator opens more
# (apps/llm/urlcheck.py): loopback and private ranges at once, or listed hosts/networks with
# an optional port ("127.0.0.1:8765,10.0.0.0/8,llm.internal"). `make run` lists demo-echo.
PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS = env_bool("PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS", False)
PROMPTYARD_PROVIDER_URL_ALLOWLIST = [
    h.strip()
    for h in os.environ.get("PROMPTYARD_PROVIDER_URL_ALLOWLIST", "").split(",")
    if h.strip()
]
# A benchmark-only bare JSON view, the framework's floor (benchmarks/prompt_fetch.py).
PROMPTYARD_BENCHMARK_VIEWS = env_bool("PROMPTYARD_BENCHMARK_VIEWS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"skip_429": {"()": "apps.core.logs.SkipTooManyRequests"}},
    "handlers": {
        # The level is the handler's too: records of loggers with a level of their own
        # (django's is INFO) reach it past the root's level.
        "console": {
            "class": "logging.StreamHandler",
            "level": os.environ.get("LOG_LEVEL", "WARNING"),
        }
    },
    "loggers": {"django.request": {"filters": ["skip_429"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SPECTACULAR_SETTINGS.update(
    {
        # Swagger UI and ReDoc assets come from the sidecar package: no CDN.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)
INSTALLED_APPS.append("drf_spectacular_sidecar")
