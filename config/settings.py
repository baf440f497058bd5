"""Settings for the platform. Configuration comes only from the environment (12-factor).

`python3 dev.py run|test` provide DATABASE_URL / REDIS_URL (embedded servers when unset);
production (Procfile) provides them from the platform.
"""

import ssl
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

INSECURE_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105 - refused below

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=INSECURE_SECRET_KEY)
if not DEBUG and SECRET_KEY == INSECURE_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production settings refuse the default key: "
        "set SECRET_KEY in the environment (or DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Whether those origins may send cookies (django-cors-headers and the Socket.IO endpoint).
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
# Keys of the secrets stored encrypted (core.fields.EncryptedTextField), newest first; each a
# Fernet key. Unset: one derived from SECRET_KEY (a deployment check warns). Rotation: put a
# new key first, run `manage.py rotate_field_encryption`, then drop the old key.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Platform directories. Data files (uploads, script inputs/outputs) live under DATA_DIR;
# scripts may only touch files inside it.
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
DATA_DIR = Path(env("PLATFORM_DATA_DIR", default=str(VAR_DIR / "data")))
LOG_DIR = Path(env("LOG_DIR", default=str(BASE_DIR / "logs")))
JOB_LOG_DIR = LOG_DIR / "jobs"
for _dir in (DATA_DIR, LOG_DIR, JOB_LOG_DIR):
    _dir.mkdir(parents=True, exist_ok=True)

DJANGO_APPS = [
    "config.apps.ConsoleAdminConfig",  # django.contrib.admin; its site is the operator console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "channels",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
]
DOMAIN_APPS = [
    "core",
    "product",
    "import_manager",
    "webhook",
    "scripts_runner",
    "codes",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + DOMAIN_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.middleware.RequestSizeLimitMiddleware",
    "core.middleware.FormBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
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
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database: PostgreSQL only -------------------------------------------------------------
if "DATABASE_URL" not in env:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start the platform with `python3 dev.py run` (it starts an "
        "embedded PostgreSQL) or set DATABASE_URL to a PostgreSQL server."
    )
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django's psycopg connection pool (psycopg-pool), per process: at most DB_POOL_MAX_SIZE
# connections (0: no pool). On in the ASGI web server only (config/asgi.py sets 10 unless
# the environment says otherwise): under uvicorn each request runs in a thread of its own,
# so a connection kept with DB_CONN_MAX_AGE is never reused, and without a pool every request
# opened a new PostgreSQL connection. Celery's prefork children, management commands and the
# tests keep one connection per thread (DB_CONN_MAX_AGE) and no pool. With the pool,
# CONN_MAX_AGE must be 0 (Django returns the connection to the pool after each request).
# Never set it for Celery workers: prefork children would share a pool forked from the parent.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("DB_POOL_MIN_SIZE", default=2), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        # Seconds a request waits for a free connection before failing.
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        # Idle connections above min_size are closed after this many seconds.
        "max_idle": env.float("DB_POOL_MAX_IDLE", default=300.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer, cache ---------------------------------------------------
if "REDIS_URL" not in env:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Start the platform with `python3 dev.py run` (it starts an "
        "embedded Valkey) or set REDIS_URL to a Redis server."
    )
REDIS_URL = env("REDIS_URL")
REDIS_USES_TLS = REDIS_URL.startswith("rediss://")
# Managed Redis (e.g. Heroku) often presents certificates that cannot be verified.
REDIS_SSL_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}[env("REDIS_SSL_CERT_REQS", default="required")]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="platform"),
        "OPTIONS": {"ssl_cert_reqs": REDIS_SSL_CERT_REQS} if REDIS_USES_TLS else {},
    }
}

_channel_host = {"address": REDIS_URL}
if REDIS_USES_TLS:
    _channel_host["ssl_cert_reqs"] = REDIS_SSL_CERT_REQS
# The pub/sub layer: ~10x faster than the list-based layer and never silently drops at
# `capacity` (ARCHITECTURE.md, measured facts). Lost messages are covered by stored lines.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [_channel_host],
            "prefix": env("CHANNEL_PREFIX", default="platform"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
if REDIS_USES_TLS:
    CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": REDIS_SSL_CERT_REQS}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True  # results live on the Job row, not in a result backend
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long jobs must not hoard queued work
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": env("CELERY_KEY_PREFIX", default="")}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "core.housekeeping": {
        "task": "core.tasks.housekeeping",
        "schedule": env.int("HOUSEKEEPING_INTERVAL_SECONDS", default=600),
    },
}
CELERY_TIMEZONE = "UTC"
# Task modules not named tasks.py (found by autodiscovery), imported by every worker.
CELERY_IMPORTS = ["codes.tasks_email", "codes.tasks_links"]
# Task events (received, started, succeeded, failed) let Flower show each task as it runs;
# the Procfile's worker also passes -E. "sent" events show tasks still waiting in a queue.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_TASK_EVENTS", default=True)
CELERY_TASK_SEND_SENT_EVENT = env.bool("CELERY_TASK_EVENTS", default=True)

# --- Job engine -----------------------------------------------------------------------------
JOB_RETENTION_DAYS = env.int("JOB_RETENTION_DAYS", default=30)
# Every running job's watchdog writes its heartbeat this often; every worker checks as often
# for running jobs whose heartbeat is older than JOB_LOST_AFTER_SECONDS (their worker died)
# and re-queues them (kinds safe to re-run, up to JOB_MAX_ATTEMPTS attempts) or fails them.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=2.0)
JOB_LOST_AFTER_SECONDS = env.float("JOB_LOST_AFTER_SECONDS", default=7.0)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# A pending job no worker has taken this long after its task was sent is sent again by
# housekeeping (a broker that lost its data lost the message; a duplicate does nothing).
JOB_PENDING_RESEND_SECONDS = env.int("JOB_PENDING_RESEND_SECONDS", default=900)
# Log lines are batched: a busy job flushes to the database/file/live stream at most this
# often (seconds) or once this many lines wait; a line after a quiet spell goes at once.
JOB_LOG_FLUSH_INTERVAL = env.float("JOB_LOG_FLUSH_INTERVAL", default=0.01)
JOB_LOG_FLUSH_LINES = env.int("JOB_LOG_FLUSH_LINES", default=500)
# Wall-clock limit of one job run (seed 003); a kind may declare its own (`timeout_seconds`).
# A job running longer is stopped like a cancelled one and ends `failed`.
JOB_TIMEOUT_SECONDS = env.int("JOB_TIMEOUT_SECONDS", default=3600)
# Grace period before a cancel that was not honoured cooperatively is enforced by revoke.
JOB_CANCEL_GRACE_SECONDS = env.float("JOB_CANCEL_GRACE_SECONDS", default=1.5)

# --- Catalog (product, import_manager) -------------------------------------------------------
# import_manager: uploads stream to DATA_DIR/uploads, feeds to DATA_DIR/downloads.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=300 * 1024 * 1024)
IMPORT_MAX_XLSX_INFLATED_BYTES = env.int("IMPORT_MAX_XLSX_INFLATED_BYTES", default=2 * 1024**3)
IMPORT_BATCH_ROWS = env.int("IMPORT_BATCH_ROWS", default=100_000)  # upper bound per batch
IMPORT_BATCH_SECONDS = env.float("IMPORT_BATCH_SECONDS", default=0.6)  # batch size target
IMPORT_MAX_ERRORS_KEPT = env.int("IMPORT_MAX_ERRORS_KEPT", default=1000)
IMPORT_WRITERS = env.int("IMPORT_WRITERS", default=2)  # connections writing batches at once
# A CSV file is COPYed in parts of this size, each validated while the next is copied.
IMPORT_CSV_PART_BYTES = env.int("IMPORT_CSV_PART_BYTES", default=8 * 1024 * 1024)
# Feed URLs resolving to private/loopback/link-local addresses are refused unless they fall
# in one of these networks (CIDRs); IMPORT_URL_ALLOW_PRIVATE=1 (tests, local) adds loopback.
IMPORT_URL_ALLOW_PRIVATE = env.bool("IMPORT_URL_ALLOW_PRIVATE", default=False)
IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = env.list("IMPORT_URL_ALLOWED_PRIVATE_NETWORKS", default=[])
IMPORT_URL_TIMEOUT = env.float("IMPORT_URL_TIMEOUT", default=30.0)
IMPORT_URL_MAX_REDIRECTS = env.int("IMPORT_URL_MAX_REDIRECTS", default=5)
# DELETE /api/products/bulk-delete/ deletes up to this many products inside the request;
# a larger catalog is deleted by a "product.delete_all" job (one statement, ~0.5 s per 500k).
PRODUCT_BULK_DELETE_INLINE_MAX_ROWS = env.int("PRODUCT_BULK_DELETE_INLINE_MAX_ROWS", default=50_000)
# POST /api/products/bulk-price-update changes up to this many products inside the request;
# more run as a "product.bulk_price_update" job: every changed row rewrites all 12 indexes
# (3 trigram), ~0.1 ms a row, so 500k rows take a minute, past any HTTP router's timeout.
PRODUCT_BULK_PRICE_INLINE_MAX_ROWS = env.int("PRODUCT_BULK_PRICE_INLINE_MAX_ROWS", default=20_000)
# A bulk load (an import, a bulk price update job) creating or changing at least this many
# products, and at least PRODUCT_BULK_LOAD_MIN_SHARE of the catalog's size, drops the
# secondary indexes and builds them again afterwards (product.services.catalog_indexes):
# about 3x cheaper than maintaining them row by row.
PRODUCT_BULK_LOAD_MIN_ROWS = env.int("PRODUCT_BULK_LOAD_MIN_ROWS", default=50_000)
PRODUCT_BULK_LOAD_MIN_SHARE = env.float("PRODUCT_BULK_LOAD_MIN_SHARE", default=0.5)
PRODUCT_INDEX_BUILDERS = env.int("PRODUCT_INDEX_BUILDERS", default=2)  # connections building
PRODUCT_INDEX_BUILD_MEMORY = env("PRODUCT_INDEX_BUILD_MEMORY", default="256MB")
# Beat starts the job that builds indexes a bulk load left suspended (a dead worker, say).
PRODUCT_INDEX_RESTORE_INTERVAL_SECONDS = env.int(
    "PRODUCT_INDEX_RESTORE_INTERVAL_SECONDS", default=600
)
CELERY_BEAT_SCHEDULE["product.restore_indexes"] = {
    "task": "product.tasks.restore_suspended_indexes",
    "schedule": PRODUCT_INDEX_RESTORE_INTERVAL_SECONDS,
}

# --- Webhooks -------------------------------------------------------------------------------
# SSRF guard: webhook targets resolving to non-public addresses are refused unless they fall in
# one of these networks (CIDRs). WEBHOOK_ALLOW_PRIVATE_TARGETS=1 (tests, local development)
# allows loopback only; anything wider must be listed explicitly.
_WEBHOOK_LOOPBACK = ["127.0.0.0/8", "::1/128"]
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = env.list(
    "WEBHOOK_ALLOWED_PRIVATE_NETWORKS",
    default=_WEBHOOK_LOOPBACK if env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False) else [],
)
# Attempts per delivery (the first one included) and the exponential backoff between them:
# delay(n) = min(BASE * FACTOR ** (n - 1), MAX) seconds, never less than a 429/503 Retry-After.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_DELAY = env.float("WEBHOOK_RETRY_BASE_DELAY", default=10.0)
WEBHOOK_RETRY_BACKOFF_FACTOR = env.float("WEBHOOK_RETRY_BACKOFF_FACTOR", default=4.0)
# Kept below the Redis broker's visibility timeout (1 h) so a countdown never outlives it.
WEBHOOK_RETRY_MAX_DELAY = env.float("WEBHOOK_RETRY_MAX_DELAY", default=3000.0)
# Bytes of the receiver's response body kept on the delivery row.
WEBHOOK_RESPONSE_EXCERPT_BYTES = env.int("WEBHOOK_RESPONSE_EXCERPT_BYTES", default=2048)
# Delivery rows (every attempt) are deleted after this many days by the maintenance task.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
# A pending attempt overdue by this long (its Celery message was lost) is enqueued again.
WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["webhook.maintain_deliveries"] = {
    "task": "webhook.tasks.maintain_deliveries",
    "schedule": env.int("WEBHOOK_MAINTENANCE_INTERVAL_SECONDS", default=300),
    "options": {"queue": "webhooks"},
}

# --- Inbound webhooks (webhook.services.inbox) ----------------------------------------------
# The shared token Make.com sends in `x-make-token` (POST /api/integrations/make/webhook).
# Unset: the receiver answers 503 (it cannot authenticate anyone).
MAKE_TOKEN = env("MAKE_TOKEN", default="")
# Bodies over this size are refused with 413 before they are parsed.
INBOUND_WEBHOOK_MAX_BODY_BYTES = env.int("INBOUND_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# Make.com's order.created (codes.services.order_events): the type of code allocated for the
# order, and the email template (codes.EmailTemplate name) of the code email to the buyer.
CODES_ORDER_CODE_TYPE = env("CODES_ORDER_CODE_TYPE", default="discount")
CODES_ORDER_EMAIL_TEMPLATE = env("CODES_ORDER_EMAIL_TEMPLATE", default="order-code")

# --- Email (codes: POST /api/email/send, the code emails; codes/README.md) ----------------
# EMAIL_URL names the backend: smtp+tls://user:password@smtp.gmail.com:587 (Gmail with an app
# password; STARTTLS), smtps://user:password@host:465 (implicit TLS), smtp://host:25,
# consolemail:// (printed by the worker), filemail:// (one .log file per message under
# EMAIL_FILE_PATH). Unset: filemail://, so local runs never send real mail; every message,
# whatever the backend, is in the admin's outbox (Codes > Email messages).
_email_config = env.email_url("EMAIL_URL", default="filemail://")
globals().update({key: value for key, value in _email_config.items() if value is not None})
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Commerce operations <noreply@localhost>")
# Seconds to wait for the SMTP server (connect, each command).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# The domain of the Message-ID each message gets when queued (the same on every attempt);
# empty: the domain of DEFAULT_FROM_EMAIL.
EMAIL_MESSAGE_ID_DOMAIN = env("EMAIL_MESSAGE_ID_DOMAIN", default="")
EMAIL_MAX_RECIPIENTS = env.int("EMAIL_MAX_RECIPIENTS", default=50)
# Attempts per message (the first included) when the server answers 4xx or cannot be
# reached; delay(n) = min(BASE * FACTOR ** (n - 1), MAX) seconds. A 5xx fails at once.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=6)
EMAIL_RETRY_BASE_DELAY = env.float("EMAIL_RETRY_BASE_DELAY", default=60.0)
EMAIL_RETRY_BACKOFF_FACTOR = env.float("EMAIL_RETRY_BACKOFF_FACTOR", default=4.0)
# Kept below the Redis broker's visibility timeout (1 h) so a countdown never outlives it.
EMAIL_RETRY_MAX_DELAY = env.float("EMAIL_RETRY_MAX_DELAY", default=3000.0)
# A retry overdue by this long (its countdown message was lost) is started by the beat task,
# which also closes messages whose worker died while sending (outcome unknown: failed).
EMAIL_REQUEUE_AFTER_SECONDS = env.int("EMAIL_REQUEUE_AFTER_SECONDS", default=120)
CELERY_BEAT_SCHEDULE["codes.maintain_emails"] = {
    "task": "codes.tasks_email.maintain_emails",
    "schedule": env.int("EMAIL_MAINTENANCE_INTERVAL_SECONDS", default=60),
    "options": {"queue": "email"},
}

# --- Links (codes: short links with UTM and click tracking; codes/README.md) -------------
# Public base of short URLs ("https://go.example.com" → https://go.example.com/l/<id>);
# empty: the address the API was called on.
LINK_BASE_URL = env("LINK_BASE_URL", default="").rstrip("/")
LINK_SHORT_ID_LENGTH = env.int("LINK_SHORT_ID_LENGTH", default=8)
# A link's redirect record is cached in Redis this long (re-read from the database on a
# miss; saving or deleting a link replaces it at once).
LINK_CACHE_SECONDS = env.int("LINK_CACHE_SECONDS", default=3600)
# Visitors are counted by an HMAC-SHA256 of their IP address with this salt (empty: derived
# from SECRET_KEY); the IP itself is never stored. "daily" mixes the UTC date in, so one
# visitor cannot be followed across days (unique visitors are per day); "never" keeps one
# hash per visitor for good.
LINK_VISITOR_SALT = env("LINK_VISITOR_SALT", default="")
LINK_VISITOR_SALT_ROTATION = env("LINK_VISITOR_SALT_ROTATION", default="daily")
# Clicks wait in a Redis list until the writer (beat, every interval) stores them in
# batches of this size; they survive worker restarts there.
LINK_CLICK_BATCH_SIZE = env.int("LINK_CLICK_BATCH_SIZE", default=5000)
LINK_REDIS_PREFIX = env("LINK_REDIS_PREFIX", default=f"{CACHES['default']['KEY_PREFIX']}:links")
CELERY_BEAT_SCHEDULE["codes.write_clicks"] = {
    "task": "codes.tasks_links.write_clicks",
    "schedule": env.float("LINK_CLICK_WRITE_INTERVAL_SECONDS", default=1.0),
    "options": {"queue": env("LINK_CLICK_QUEUE", default="default"), "expires": 30},
}

# --- Script runner --------------------------------------------------------------------------
# Per-run folders (working directory and HOME of each sandboxed script); empty means
# DATA_DIR/script_runs, so run outputs are data files like any other.
SCRIPTS_WORK_DIR = env("SCRIPTS_WORK_DIR", default="")
# Extra environment variables copied into script children (e.g. HTTPS_PROXY); never secrets.
# Named credentials are SCRIPT_CREDENTIAL_<NAME> variables, given only to scripts declaring them.
SCRIPTS_ENV_ALLOWLIST = env.list("SCRIPTS_ENV_ALLOWLIST", default=[])

# --- Codes ----------------------------------------------------------------------------------
# Code types are rows (codes.CodeType, created on first use); these are their defaults.
CODES_DEFAULT_CODE_TYPE = env("CODES_DEFAULT_CODE_TYPE", default="discount")
# `codes.pool_low` fires when fewer codes than this are left to allocate (per type; 0: never).
CODES_DEFAULT_LOW_WATER_MARK = env.int("CODES_DEFAULT_LOW_WATER_MARK", default=100)
# POST /api/codes creates at most this many codes in the request; more go through create-codes.
CODES_INLINE_CREATE_MAX = env.int("CODES_INLINE_CREATE_MAX", default=1000)
# A bulk job (or a pattern) handles at most this many rows.
CODES_BULK_MAX_ROWS = env.int("CODES_BULK_MAX_ROWS", default=5_000_000)
# allocate_code runs its statement PREPAREd once per database connection (half of a call was
# planning it). Off (false) behind a pooler in transaction mode (PgBouncer), where a session's
# prepared statements do not follow it.
CODES_ALLOCATION_PREPARED = env.bool("CODES_ALLOCATION_PREPARED", default=True)
# The merchant's Fienta CLI (Node/Playwright: `npm run dev -- --csv ... --email ...`). When
# FIENTA_CLI_DIR is set, every fienta.* job also runs it in the sandbox with the document's
# flags; the credentials are passed in and redacted from every log line.
FIENTA_CLI_DIR = env("FIENTA_CLI_DIR", default="")
FIENTA_CLI_SCRIPT = env("FIENTA_CLI_SCRIPT", default="dev")  # npm run <script>
FIENTA_EMAIL = env("FIENTA_EMAIL", default="")
FIENTA_PASSWORD = env("FIENTA_PASSWORD", default="")
FIENTA_CLI_TIMEOUT_SECONDS = env.int("FIENTA_CLI_TIMEOUT_SECONDS", default=3600)
# Address-space limit of the CLI in MB; 0 = none (Chromium reserves terabytes of virtual
# memory, so Playwright cannot run under one).
FIENTA_CLI_MEMORY_MB = env.int("FIENTA_CLI_MEMORY_MB", default=0)
FIENTA_CLI_CPU_SECONDS = env.int("FIENTA_CLI_CPU_SECONDS", default=3600)
# Worker variables the CLI also gets (PLAYWRIGHT_BROWSERS_PATH, HTTPS_PROXY, ...); never secrets.
FIENTA_CLI_ENV_ALLOWLIST = env.list(
    "FIENTA_CLI_ENV_ALLOWLIST", default=["PLAYWRIGHT_BROWSERS_PATH", "NODE_OPTIONS"]
)
# Shopify store create-codes may add codes to (discountRedeemCodeBulkAdd); empty = off.
SHOPIFY_SHOP_DOMAIN = env("SHOPIFY_SHOP_DOMAIN", default="")
SHOPIFY_ACCESS_TOKEN = env("SHOPIFY_ACCESS_TOKEN", default="")
SHOPIFY_API_VERSION = env("SHOPIFY_API_VERSION", default="2025-01")
# How long create-codes waits for Shopify's asynchronous bulk code creation, per call.
SHOPIFY_BULK_CODES_TIMEOUT_SECONDS = env.float("SHOPIFY_BULK_CODES_TIMEOUT_SECONDS", default=300)
SHOPIFY_BULK_CODES_POLL_SECONDS = env.float("SHOPIFY_BULK_CODES_POLL_SECONDS", default=1.0)

# --- Auth ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# HS256 secret of an external identity provider (Supabase-compatible tokens); empty = off.
EXTERNAL_JWT_SECRET = env("JWT_SECRET", default="")
EXTERNAL_JWT_AUDIENCE = env("JWT_AUDIENCE", default="") or None

# Seconds an API process keeps the user behind an access token (with its role) instead of
# reading it for every request (core.auth.authentication); 0: read it every time. A user
# deactivated or given another role elsewhere is noticed within this time.
AUTH_USER_CACHE_SECONDS = env.float("AUTH_USER_CACHE_SECONDS", default=10)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": True,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    # Structured bodies are JSON only: form encodings read absent booleans as false and
    # cannot carry types. Views that take files add the multipart parser themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "core.api.ordering.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.schema.PlatformAutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    # Rate limits on Redis (core.throttles): the budgets are API_RATE_LIMITS below.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.UserRateThrottle",
        "core.throttles.ScopedUserRateThrottle",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Request budgets (core.throttles): "N/period" (s, min, hour, day; "10/5min"), or "off".
# `user` applies to every authenticated API request, per user; the named scopes apply, on top,
# to the endpoints that declare them (`throttle_scope`); login/register are per address and
# per account. A request over budget gets 429 with Retry-After.
API_RATE_LIMITS = {
    "user": env("API_RATE_LIMIT", default="600/min"),
    "uploads": env("API_RATE_LIMIT_UPLOADS", default="30/min"),  # file uploads, feed imports
    "bulk": env("API_RATE_LIMIT_BULK", default="20/min"),  # bulk changes, job launches, retries
    "scraping": env("API_RATE_LIMIT_SCRAPING", default="30/min"),
    "ai": env("API_RATE_LIMIT_AI", default="30/min"),
    "email": env("API_RATE_LIMIT_EMAIL", default="20/min"),
    "login_ip": env("LOGIN_THROTTLE_IP_RATE", default="20/min"),
    "login_email": env("LOGIN_THROTTLE_EMAIL_RATE", default="5/min"),
    "register": env("REGISTER_THROTTLE_RATE", default="10/hour"),
}
API_RATE_LIMIT_KEY_PREFIX = env(
    "API_RATE_LIMIT_KEY_PREFIX", default=f"{CACHES['default']['KEY_PREFIX']}:ratelimit"
)
SPECTACULAR_SETTINGS = {
    "TITLE": "Commerce operations platform API",
    "DESCRIPTION": "Catalog, imports, jobs, scripts and webhooks. Live job streams at /ws/jobs/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/ and /api/v1/ serve the same views: both prefixes yield the same tags and ids
    # (the /api/v1/ copies' ids start with v1_, see core.schema).
    "SCHEMA_PATH_PREFIX": r"/api(/v1)?",
}

# More fields than this in a query string or form body are refused with a 400 (Django's
# TooManyFieldsSent), before authentication.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)
# Bodies over this size get 413 (multipart file parts are streamed to disk and not counted).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Whole multipart requests (file uploads such as catalog imports) are capped at this size.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=1024 * 1024 * 1024)

# --- HTTP hardening ------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Logging -------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
        "app_file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "app.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
        "json_file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "app.json.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "json",
            "filters": ["redact_secrets"],
        },
        "error_file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "errors.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "level": "ERROR",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {
        "handlers": ["console", "app_file", "json_file", "error_file"],
        "level": env("LOG_LEVEL", default="INFO"),
    },
    "loggers": {
        # Request bodies never get logged; keep Django's request errors at WARNING and up.
        "django.request": {"level": "WARNING", "propagate": True},
        "django.db.backends": {"level": "WARNING", "propagate": True},
        # httpx logs every request URL (query strings included) at INFO.
        "httpx": {"level": "WARNING", "propagate": True},
        "httpcore": {"level": "WARNING", "propagate": True},
        # uvicorn's access log writes each URL with its query string: WebSocket clients may
        # pass ?token=<JWT>. Its lines go through our redacting handlers instead of its own.
        "uvicorn.access": {"handlers": [], "propagate": True},
    },
}
