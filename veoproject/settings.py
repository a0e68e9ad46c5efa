"""Settings for Veo Studio.

This module is the only reader of the environment (django-environ, with an
optional `.env` beside manage.py). Defaults are safe for development: SQLite,
console email, the built-in simulator when `KIE_API_BASE_URL` points at
loopback. Production sets `DEBUG=off`, `SECRET_KEY`, `KIE_API_KEY` and friends.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "csp",
    "allauth",
    "allauth.account",
    "accounts",
    "django_htmx",
    "billing",
    "videos",
    "pages",
    "ninja",  # its static files serve the API docs page (no CDN)
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the browser's language, or the one chosen
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pages.middleware.ProfileLanguageMiddleware",  # the language saved on /account/, in a new browser too
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: answer live regions with their fragment
]

ROOT_URLCONF = "veoproject.urls"
WSGI_APPLICATION = "veoproject.wsgi.application"

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
                "billing.context_processors.balance",
                "videos.context_processors.notices",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if "DATABASE_URL" not in env:
    (BASE_DIR / "var").mkdir(exist_ok=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes write at once: WAL lets readers go on during a
    # write, the busy timeout waits for the lock instead of failing, and
    # IMMEDIATE takes the write lock at the start of each transaction so two
    # writers never deadlock upgrading read locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default="") or None}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

# --- Sessions and live status ------------------------------------------------
# With Redis as the shared cache (CACHES, below), sessions are read from it
# (written through to the database), and open job pages' status checks are
# answered from it (videos/live.py). Without Redis the cache is a database
# table: answering from it would save nothing.
if REDIS_URL:
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LIVE_STATUS_CACHE = env.bool("LIVE_STATUS_CACHE", default=bool(REDIS_URL))

# --- Background worker (django-q2) ----------------------------------------
# Every task is idempotent (jobs are claimed with conditional updates), so
# at-least-once delivery is safe. `timeout` stays below `retry` so a task is
# never handed out again while it is still running.
Q_CLUSTER = {
    "name": env.str("Q_QUEUE_NAME", default="veo"),  # also the broker's queue name
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 240,
    "retry": 300,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL_SECONDS", default=0.5)

# --- Auth ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "videos:gallery"
LOGOUT_REDIRECT_URL = "login"

# --- Accounts (django-allauth) ---------------------------------------------
# allauth brings email verification, login by username or email, and
# throttles on failed logins (per account and per address, site and admin).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
# mandatory: no login and no signup grant before the address is verified.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory")
if ACCOUNT_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be mandatory, optional or none.")
ACCOUNT_UNIQUE_EMAIL = True  # and the database's unique index on lower(email)
ACCOUNT_PREVENT_ENUMERATION = False  # the sign-up form says plainly that an email is taken
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False  # a link scanner's GET must not verify an address
ACCOUNT_SESSION_REMEMBER = True  # like Django's login: the session lasts SESSION_COOKIE_AGE
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Veo Studio] "
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, spelled out: failed logins per address 10 a minute,
    # per account 5 in 5 minutes (accounts.adapter counts the account, not
    # the spelling); login attempts of any outcome 30 a minute per address.
    "login_failed": env.str("LOGIN_FAILED_RATE", default="10/m/ip,5/5m/key"),
    "login": env.str("LOGIN_RATE", default="30/m/ip"),
}
# Sign-ups per client address per hour, every attempt counted (accounts.throttle).
SIGNUPS_PER_IP_PER_HOUR = env.int("SIGNUPS_PER_IP_PER_HOUR", default=5)
# The client address is REMOTE_ADDR unless a proxy we run is in front: then
# the number of such proxies (X-Forwarded-For) or the header it sets.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="") or None

# Throttle counters must be shared by every web process: Redis when there is
# one, else a database table (created by accounts' migrations).
if REDIS_URL:
    # Django's Redis cache, keeping its redis-py clients (veoproject/cache.py).
    CACHES = {"default": {"BACKEND": "veoproject.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "veo_cache"}}

# Over plain http in development the browser would drop Secure cookies.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (production) ----------------------------------------------------
# Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=on so Django
# trusts its X-Forwarded-Proto header.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 30 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)  # the header alone enrols nothing
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Content-Security-Policy (django-csp) -----------------------------------
# Scripts only from our own static files: no inline script, no inline event
# handler, no eval, so injected markup cannot run. Inline style attributes
# stay allowed (progress bars set their width), style elements do not.
# Pages that load from elsewhere (a storage bucket's presigned video URLs, a
# payment provider's script and frames) add those origins by setting.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *env.list("CSP_SCRIPT_SRC", default=[])],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *env.list("CSP_IMG_SRC", default=[])],
        "media-src": ["'self'", *env.list("CSP_MEDIA_SRC", default=[])],
        "connect-src": ["'self'", *env.list("CSP_CONNECT_SRC", default=[])],
        "frame-src": ["'self'", *env.list("CSP_FRAME_SRC", default=[])],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Email -----------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Veo Studio <noreply@localhost>")
ADMINS = [("Operators", addr) for addr in env.list("OPERATOR_EMAILS", default=[])]

# --- I18n ------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media ------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Relative to the project root (an absolute path stays as it is).
MEDIA_ROOT = BASE_DIR / env.str("MEDIA_ROOT", default="var/media")
# Media is never served as a folder: videos go through an owner-checked view,
# input images through an unguessable-token view.
MEDIA_URL = "/media-not-served/"
# With local storage behind nginx, /videos/<id>/file answers X-Accel-Redirect
# to this internal location instead of streaming the bytes (docs/deployment.md).
MEDIA_X_ACCEL_PREFIX = env.str("MEDIA_X_ACCEL_PREFIX", default="")
# How long a presigned URL for a viewer (video, poster) stays valid.
MEDIA_URL_SECONDS = env.int("MEDIA_URL_SECONDS", default=300)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env.bool("STATIC_MANIFEST", default=not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# S3-compatible object storage (django-storages' own setting names): with a
# bucket, every stored file goes there and many machines share it.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    from .s3 import BACKEND as S3_BACKEND
    from .s3 import s3_settings

    vars().update(
        s3_settings(
            bucket=AWS_STORAGE_BUCKET_NAME,
            endpoint_url=env.str("AWS_S3_ENDPOINT_URL", default=""),
            access_key=env.str("AWS_ACCESS_KEY_ID", default=""),
            secret_key=env.str("AWS_SECRET_ACCESS_KEY", default=""),
            region=env.str("AWS_S3_REGION_NAME", default=""),
            url_seconds=MEDIA_URL_SECONDS,
            connect_timeout=env.float("AWS_S3_CONNECT_TIMEOUT", default=2.0),
            read_timeout=env.float("AWS_S3_READ_TIMEOUT", default=30.0),
        )
    )
    STORAGES["default"] = {"BACKEND": S3_BACKEND}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Provider (kie.ai) -----------------------------------------------------
KIE_API_BASE_URL = env.str("KIE_API_BASE_URL", default="https://api.kie.ai").rstrip("/")
KIE_API_KEY = env.str("KIE_API_KEY", default="")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
KIE_USES_SIMULATOR = urlsplit(KIE_API_BASE_URL).hostname in LOOPBACK_HOSTS
if not KIE_API_KEY:
    if not KIE_USES_SIMULATOR:
        raise ImproperlyConfigured(
            f"KIE_API_KEY is not set but KIE_API_BASE_URL is {KIE_API_BASE_URL}. "
            "Set KIE_API_KEY to your kie.ai key, or point KIE_API_BASE_URL at the "
            "built-in simulator (python manage.py kie_simulator --port 8010; "
            "KIE_API_BASE_URL=http://127.0.0.1:8010)."
        )
    KIE_API_KEY = "simulator-key"
KIE_CONNECT_TIMEOUT = env.float("KIE_CONNECT_TIMEOUT", default=5.0)
KIE_READ_TIMEOUT = env.float("KIE_READ_TIMEOUT", default=30.0)
# How the provider reaches this app (callback and input image URLs).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
KIE_WEBHOOK_HMAC_KEY = env.str("KIE_WEBHOOK_HMAC_KEY", default="")
KIE_WEBHOOK_MAX_AGE = env.int("KIE_WEBHOOK_MAX_AGE", default=300)
# Result videos are downloaded only from these hosts (https; plain http only
# for loopback hosts, i.e. the simulator).
KIE_DOWNLOAD_HOSTS = env.list("KIE_DOWNLOAD_HOSTS", default=["tempfile.aiquickdraw.com", "file.aiquickdraw.com"])
KIE_DOWNLOAD_MAX_BYTES = env.int("KIE_DOWNLOAD_MAX_BYTES", default=300 * 1024 * 1024)
KIE_DOWNLOAD_TIMEOUT = env.float("KIE_DOWNLOAD_TIMEOUT", default=60.0)
# The provider's callbacks are small: bodies beyond these bounds answer 413/400
# before they are parsed.
KIE_CALLBACK_MAX_BYTES = env.int("KIE_CALLBACK_MAX_BYTES", default=64 * 1024)
KIE_CALLBACK_MAX_DEPTH = env.int("KIE_CALLBACK_MAX_DEPTH", default=16)

# --- Card payments (Stripe) ------------------------------------------------
# No secret key: buying is off and the buy page says so. A loopback
# STRIPE_API_BASE means the embedded fake Stripe (localstripe, started by
# bin/dev and the tests); the pages then load its mock Stripe.js instead of
# Stripe's own.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
# Webhook events signed longer ago than this are refused (Stripe's default).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_TIMEOUT = env.float("STRIPE_TIMEOUT", default=20.0)
# Card testing defence: payments a user may start an hour, and card
# confirmations tried on one payment.
PAYMENTS_PER_HOUR = env.int("PAYMENTS_PER_HOUR", default=20)
PAYMENT_ATTEMPTS = env.int("PAYMENT_ATTEMPTS", default=3)
# Failed redeem attempts a user may make per hour before being made to wait.
REDEEM_FAILURES_PER_HOUR = env.int("REDEEM_FAILURES_PER_HOUR", default=10)

# --- Product ---------------------------------------------------------------
SIGNUP_GRANT_CREDITS = env.int("SIGNUP_GRANT_CREDITS", default=50)
# The most credits one operator adjustment may grant or take (a typo guard).
ADMIN_ADJUST_MAX_CREDITS = env.int("ADMIN_ADJUST_MAX_CREDITS", default=100_000)
PROMPT_MAX_LENGTH = env.int("PROMPT_MAX_LENGTH", default=2000)
# Below this many characters the form suggests adding detail (a hint, not a rule).
PROMPT_HINT_LENGTH = env.int("PROMPT_HINT_LENGTH", default=60)
# Words and phrases that break the content rules: refused before any charge.
PROMPT_BLOCKLIST = env.list(
    "PROMPT_BLOCKLIST", default=["nsfw", "nude", "naked", "porn", "pornographic", "gore", "beheading", "child abuse"]
)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# Typical generation time per model, for progress bars and the first poll.
VEO_TYPICAL_SECONDS = {
    "veo3_fast": env.float("VEO_TYPICAL_SECONDS_FAST", default=150),
    "veo3": env.float("VEO_TYPICAL_SECONDS_QUALITY", default=240),
    "veo3_lite": env.float("VEO_TYPICAL_SECONDS_LITE", default=120),
}
# A submitted job with no result after this long is failed and refunded.
JOB_DEADLINE_SECONDS = env.int("JOB_DEADLINE_SECONDS", default=30 * 60)
# Wait this long after the typical duration before the first safety poll,
# then poll at INTERVAL, 2×INTERVAL, 4×INTERVAL … at most MAX_INTERVAL apart.
POLL_GRACE_SECONDS = env.float("POLL_GRACE_SECONDS", default=30)
POLL_INTERVAL_SECONDS = env.float("POLL_INTERVAL_SECONDS", default=30)
POLL_MAX_INTERVAL_SECONDS = env.float("POLL_MAX_INTERVAL_SECONDS", default=300)
GALLERY_PAGE_SIZE = 12

# --- Budgets (0 means no cap) ----------------------------------------------
# Per user, in credits spent (charges less refunds); overridable per wallet.
USER_DAILY_CAP_CREDITS = env.int("USER_DAILY_CAP_CREDITS", default=500)
USER_MONTHLY_CAP_CREDITS = env.int("USER_MONTHLY_CAP_CREDITS", default=5000)
# All users together, in provider credits (what the operator pays).
GLOBAL_DAILY_CAP_PROVIDER_CREDITS = env.int("GLOBAL_DAILY_CAP_PROVIDER_CREDITS", default=200_000)
GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS = env.int("GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS", default=3_000_000)
# Accepted submissions per user per minute (rejected form posts do not count).
USER_SUBMISSIONS_PER_MINUTE = env.int("USER_SUBMISSIONS_PER_MINUTE", default=10)
# Circuit breaker on spend: provider credits in the sliding window above the
# limit, or above MULTIPLE times the day's usual rate (never below FLOOR).
BREAKER_WINDOW_MINUTES = env.int("BREAKER_WINDOW_MINUTES", default=10)
BREAKER_WINDOW_LIMIT = env.int("BREAKER_WINDOW_LIMIT", default=30_000)
BREAKER_ABNORMAL_MULTIPLE = env.float("BREAKER_ABNORMAL_MULTIPLE", default=10.0)
BREAKER_ABNORMAL_FLOOR = env.int("BREAKER_ABNORMAL_FLOOR", default=3_000)
# Accounts holding only their signup grant (free tier) are not counted by the
# spend breaker; their spend has its own budget in provider credits, per
# breaker window and per day. Past it, free-tier submissions wait; paying
# users go on. The defaults let 24 quality videos of fresh accounts through
# per window.
FREE_TIER_WINDOW_LIMIT = env.int("FREE_TIER_WINDOW_LIMIT", default=6_000)
FREE_TIER_DAILY_LIMIT = env.int("FREE_TIER_DAILY_LIMIT", default=40_000)
# Provider balance: checked on a schedule; operators are emailed when it
# falls below this many provider credits (once per crossing).
PROVIDER_LOW_BALANCE = env.int("PROVIDER_LOW_BALANCE", default=5_000)

# --- Concurrency and provider limits ---------------------------------------
# Jobs a user may have running at once; more wait in the queue, in order.
USER_RUNNING_SLOTS = env.int("USER_RUNNING_SLOTS", default=3)
# Jobs at the provider at once, all users together.
GLOBAL_INFLIGHT_CAP = env.int("GLOBAL_INFLIGHT_CAP", default=40)
# The provider accepts 20 new generations per 10 seconds (not queued there).
PROVIDER_RATE_LIMIT = env.int("PROVIDER_RATE_LIMIT", default=20)
PROVIDER_RATE_WINDOW_SECONDS = env.float("PROVIDER_RATE_WINDOW_SECONDS", default=10.0)
# 429 backoff: BASE, 2×BASE, 4×BASE … 32×BASE seconds (with jitter), then refund.
KIE_BACKOFF_BASE_SECONDS = env.float("KIE_BACKOFF_BASE_SECONDS", default=1.0)
# 455, 500 and unreachable provider: retry after these many seconds, then refund.
KIE_RETRY_DELAYS = env.list("KIE_RETRY_DELAYS", cast=int, default=[30, 60, 120, 240, 480])

# --- Reuse of identical requests with an explicit seed ---------------------
# off | user (the same user's earlier video) | global (anyone's)
VIDEO_REUSE_SCOPE = env.str("VIDEO_REUSE_SCOPE", default="user")
# What a reused video costs, in percent of the model's price.
VIDEO_REUSE_PERCENT = env.int("VIDEO_REUSE_PERCENT", default=0)

# Image links are fetched once before any charge (videos.imagelinks): at most
# this many bytes; hosts listed here may be private and plain http (tests).
IMAGE_LINK_MAX_BYTES = env.int("IMAGE_LINK_MAX_BYTES", default=10 * 1024 * 1024)
IMAGE_LINK_PRIVATE_HOSTS = env.list("IMAGE_LINK_PRIVATE_HOSTS", default=[])

# A "success" with no video that stays empty this long is the provider's
# safety filter (a failure, refunded); before it, the URLs may still come.
KIE_EMPTY_RESULT_GRACE_SECONDS = env.float("KIE_EMPTY_RESULT_GRACE_SECONDS", default=120)

# --- 1080p upgrade ---------------------------------------------------------
HD_RETRY_SECONDS = env.int("HD_RETRY_SECONDS", default=25)
HD_MAX_ATTEMPTS = env.int("HD_MAX_ATTEMPTS", default=16)
# --- 4K upgrade: one request with a callback; a status read this long after
# it if no callback came, then every UHD_RETRY_SECONDS (never under 30 s).
UHD_FIRST_CHECK_SECONDS = env.int("UHD_FIRST_CHECK_SECONDS", default=600)
UHD_RETRY_SECONDS = env.int("UHD_RETRY_SECONDS", default=60)

# --- Developer API and user webhooks ----------------------------------------
# Requests a minute per API token (0: no limit).
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=120)
# An Idempotency-Key is remembered this long; a request still "running"
# after IDEMPOTENCY_RUNNING_SECONDS is taken as lost with its process.
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
IDEMPOTENCY_RUNNING_SECONDS = env.int("IDEMPOTENCY_RUNNING_SECONDS", default=300)
# Hosts (names or addresses, any port) a user's webhook may reach although
# private, and over plain http. Tests use 127.0.0.1.
USER_WEBHOOK_PRIVATE_HOSTS = env.list("USER_WEBHOOK_PRIVATE_HOSTS", default=[])
# Seconds between attempts after a failed delivery (Standard Webhooks'
# suggested schedule); the minute sweep picks retries up.
USER_WEBHOOK_RETRY_DELAYS = env.list(
    "USER_WEBHOOK_RETRY_DELAYS", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
USER_WEBHOOK_CONNECT_TIMEOUT = env.float("USER_WEBHOOK_CONNECT_TIMEOUT", default=5.0)
USER_WEBHOOK_READ_TIMEOUT = env.float("USER_WEBHOOK_READ_TIMEOUT", default=10.0)
# Finished deliveries stay in the user's log this many days.
USER_WEBHOOK_LOG_DAYS = env.int("USER_WEBHOOK_LOG_DAYS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every line passes the redaction filter: callback URLs carry secret tokens.
    "filters": {"redact_secrets": {"()": "videos.logfilters.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
