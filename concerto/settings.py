"""Concerto settings, all read from the environment (see .env.example).

Two modes:

* ``CONCERTO_MODE=demo`` (the default, "embedded"): SQLite under ``CONCERTO_DATA_DIR``,
  the demo login, a local MSSanté mail sink. Never for real patient data.
* ``CONCERTO_MODE=production``: refuses to start without a secret key, allowed hosts
  and a PostgreSQL ``DATABASE_URL``; the demo login does not exist.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from concerto.lib.env import (
    ConfigurationError,
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

CONCERTO_MODE = env_str("CONCERTO_MODE", "demo")
if CONCERTO_MODE not in {"demo", "production"}:
    raise ConfigurationError("CONCERTO_MODE doit valoir 'demo' ou 'production'.")
PRODUCTION = CONCERTO_MODE == "production"

DATA_DIR = Path(env_str("CONCERTO_DATA_DIR", str(BASE_DIR / "var"))).resolve()

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY", required=True)
    if len(SECRET_KEY) < 50:
        raise ConfigurationError("SECRET_KEY doit compter au moins 50 caractères en production.")
    # The example's placeholder and the demo's key are public; so is any key of a few
    # repeated characters. (The key signs sessions and the portal's patient tokens.)
    if (
        "change-me" in SECRET_KEY.lower()
        or SECRET_KEY.startswith(("demo-only-insecure", "django-insecure"))
        or len(set(SECRET_KEY)) < 10
    ):
        raise ConfigurationError(
            "SECRET_KEY : valeur d'exemple ou trop peu aléatoire ; en production, tirez "
            'au moins 50 caractères au hasard (python3 -c "import secrets; '
            'print(secrets.token_urlsafe(50))").'
        )
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ConfigurationError("ALLOWED_HOSTS est obligatoire en production.")
    if "*" in ALLOWED_HOSTS:
        raise ConfigurationError("ALLOWED_HOSTS : « * » est refusé en production.")
    DEBUG = False
else:
    # Demo only: a fixed, public key is acceptable because demo data is synthetic.
    SECRET_KEY = env_str("SECRET_KEY", "demo-only-insecure-key-" + "x" * 40)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
    DEBUG = env_bool("DEBUG", False)

# The demo login exists only in demo mode; a system check refuses it in production.
DEMO_LOGIN = env_bool("CONCERTO_DEMO_LOGIN", not PRODUCTION)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "concerto.accounts",
    "concerto.audit",
    "concerto.directory",
    "concerto.patients",
    "concerto.rcp",
    "concerto.notifications",
    "concerto.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "concerto.lib.middleware.NoStoreMiddleware",
    "concerto.audit.middleware.RequestAddressMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "concerto.urls"
WSGI_APPLICATION = "concerto.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "concerto" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "concerto.context_processors.concerto",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": parse_database_url(_database_url)}
elif PRODUCTION:
    raise ConfigurationError("DATABASE_URL (PostgreSQL) est obligatoire en production.")
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "concerto.sqlite3"),
        }
    }
if PRODUCTION and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ConfigurationError("En production, DATABASE_URL doit désigner PostgreSQL.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, mail sink) share the file: wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("TEST", {})
    _test_name = env_str("TEST_DATABASE_NAME")
    if _test_name:
        DATABASES["default"]["TEST"]["NAME"] = _test_name  # type: ignore[index]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STATICFILES_DIRS = [BASE_DIR / "concerto" / "static"]
# The application serves its own assets (no CDN). Production runs collectstatic;
# demo and tests serve straight from the source folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded documents live outside any public web root and are served only by authorised views.
DOCUMENTS_DIR = Path(env_str("CONCERTO_DOCUMENTS_DIR", str(DATA_DIR / "documents")))
DOCUMENT_MAX_BYTES = env_int("CONCERTO_DOCUMENT_MAX_BYTES", 20 * 1024 * 1024)

# Flash messages may name a patient: keep them server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGIN_URL = "/connexion/"
LOGIN_REDIRECT_URL = "/"

# Sessions: idle and absolute time-outs (seconds).
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_TIMEOUT", 12 * 3600)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
# Pages warn this many seconds before either time-out (WCAG 2.2.1: the user is told, and
# may stay connected with one click; typing in a form counts as being there).
SESSION_WARNING_LEAD = env_int("SESSION_WARNING_LEAD", 120)
# A session cookie, gone when the browser closes (a shared workstation); both time-outs
# are enforced on the server whatever the cookie says.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
    # Submitting to the browsers' HSTS preload list is the operator's decision.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Strict CSP: every asset is served by the application itself; no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Absolute base URL used in e-mails (deep links to the pre-fiche): required, https, in
# production (a default would send GPs links to a machine they cannot reach).
if PRODUCTION:
    SITE_URL = env_str("CONCERTO_SITE_URL", required=True).rstrip("/")
    if not SITE_URL.startswith("https://"):
        raise ConfigurationError("CONCERTO_SITE_URL doit commencer par https:// en production.")
else:
    SITE_URL = env_str("CONCERTO_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Audit trail retention (days); CSP art. R6113-9-2 asks at least 6 months.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 366)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},  # (a line per table of each PDF's font subset)
    },
}

# --- Pro Santé Connect (issue 5: login) -------------------------------------------------
# OpenID Connect with the national e-health identity service (INTEGRATION.md).
# Test ("BAS") issuer: https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet
# Production issuer:   https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet
# Development: `concerto psc-standin --port 8765` and PSC_ISSUER=http://127.0.0.1:8765/auth/realms/esante-wallet
PSC_ISSUER = env_str("PSC_ISSUER").rstrip("/")
PSC_CLIENT_ID = env_str("PSC_CLIENT_ID", "" if PRODUCTION else "concerto-demo")
PSC_CLIENT_SECRET = env_str("PSC_CLIENT_SECRET", "" if PRODUCTION else "concerto-demo-secret")
PSC_REDIRECT_URI = env_str(
    "PSC_REDIRECT_URI", "" if PRODUCTION else SITE_URL + "/connexion/psc/retour/"
)
# Where PSC sends the browser back after its end-session: by default the site's home.
PSC_POST_LOGOUT_REDIRECT_URI = env_str(
    "PSC_POST_LOGOUT_REDIRECT_URI",
    PSC_REDIRECT_URI.split("/connexion/")[0] + "/" if PSC_REDIRECT_URI else SITE_URL + "/",
)
PSC_SCOPES = env_str("PSC_SCOPES", "openid scope_all")
PSC_ACR = env_str("PSC_ACR", "eidas1")
PSC_HTTP_TIMEOUT = env_int("PSC_HTTP_TIMEOUT", 10)
if PRODUCTION:
    for _name in ("PSC_ISSUER", "PSC_CLIENT_ID", "PSC_CLIENT_SECRET", "PSC_REDIRECT_URI"):
        env_str(_name, required=True)
    for _name in ("PSC_ISSUER", "PSC_REDIRECT_URI"):
        if not globals()[_name].startswith("https://"):
            raise ConfigurationError(f"{_name} doit être une adresse https:// en production.")
    if PSC_ACR != "eidas1":
        raise ConfigurationError("PSC_ACR doit valoir eidas1 en production (CPS / e-CPS).")
if PSC_ISSUER:
    # The logout form redirects to PSC's end-session; browsers apply form-action to a
    # form's redirects, so PSC's origin must be allowed there.
    _psc = urlsplit(PSC_ISSUER)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_psc.scheme}://{_psc.netloc}")
if PRODUCTION:
    # "__Host-" cookies: Secure, host-only, Path=/ enforced by the browser itself.
    SESSION_COOKIE_NAME = "__Host-concerto-session"
    CSRF_COOKIE_NAME = "__Host-concerto-csrf"
# Idle and absolute session time-outs (SESSION_IDLE_TIMEOUT / SESSION_ABSOLUTE_TIMEOUT).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
    "concerto.accounts.middleware.SessionTimeoutMiddleware",
)

# --- GP portal (issue 6) -----------------------------------------------------------------

# (Home sends a GP to the news feed and other roles to their pages.)
# Read-access events are committed without waiting for the WAL flush (PostgreSQL
# synchronous_commit=off for that transaction only); see concerto/audit/access.py.
AUDIT_ACCESS_ASYNC_COMMIT = env_bool("AUDIT_ACCESS_ASYNC_COMMIT", False)

# --- National directory import (issue 4: concerto import-directory) -------------------
# Share of bad lines per file above which the import stops and changes nothing.
DIRECTORY_IMPORT_MAX_BAD_SHARE = float(env_str("DIRECTORY_IMPORT_MAX_BAD_SHARE", "0.01"))
# Where each run writes its report of rejected lines (file, line, reason).
DIRECTORY_IMPORT_REPORT_DIR = Path(
    env_str("DIRECTORY_IMPORT_REPORT_DIR", str(DATA_DIR / "directory-reports"))
)
# Optional live look-up in the Annuaire Santé FHIR API, only when a key is set.
DIRECTORY_FHIR_URL = env_str(
    "DIRECTORY_FHIR_URL", "https://gateway.api.esante.gouv.fr/fhir/v2"
).rstrip("/")
DIRECTORY_FHIR_API_KEY = env_str("DIRECTORY_FHIR_API_KEY")
DIRECTORY_FHIR_TIMEOUT = float(env_str("DIRECTORY_FHIR_TIMEOUT", "5"))

# --- MSSanté notification (the pre-RCP notification to the GP, concerto.notifications) ---
# Demo defaults point at the local mail sink (`concerto mail-sink`, started by scripts/demo),
# whose certificates are generated into var/mail-tls/. In production, point them at the
# MSSanté operator's SMTP submission service and the IGC Santé material.
_mail_tls_dir = DATA_DIR / "mail-tls"
MSSANTE_SMTP_HOST = env_str("MSSANTE_SMTP_HOST", "127.0.0.1")
MSSANTE_SMTP_PORT = env_int("MSSANTE_SMTP_PORT", 8025)
# "starttls" (submission, 587) or "tls" (implicit TLS, 465). Never plaintext.
MSSANTE_SMTP_MODE = env_str("MSSANTE_SMTP_MODE", "starttls")
if MSSANTE_SMTP_MODE not in {"starttls", "tls"}:
    raise ConfigurationError("MSSANTE_SMTP_MODE doit valoir 'starttls' ou 'tls'.")
MSSANTE_SMTP_TIMEOUT = env_int("MSSANTE_SMTP_TIMEOUT", 30)
# The wait for the reply to a message's content (RFC 5321 §4.5.3.2.6: 10 minutes).
MSSANTE_SMTP_DATA_TIMEOUT = env_int("MSSANTE_SMTP_DATA_TIMEOUT", 600)
MSSANTE_CLIENT_CERT = env_str(
    "MSSANTE_CLIENT_CERT", "" if PRODUCTION else str(_mail_tls_dir / "client.pem")
)
MSSANTE_CLIENT_KEY = env_str(
    "MSSANTE_CLIENT_KEY", "" if PRODUCTION else str(_mail_tls_dir / "client-key.pem")
)
# CA bundle that signs the MSSanté servers (IGC Santé), never the system default alone.
MSSANTE_CA_BUNDLE = env_str(
    "MSSANTE_CA_BUNDLE", "" if PRODUCTION else str(_mail_tls_dir / "ca.pem")
)
# The sender's identity: the demo's values only in demo mode (``concerto notify`` refuses
# to start in production without them).
MSSANTE_FROM = env_str("MSSANTE_FROM", "" if PRODUCTION else "concerto-demo@rcp.demo.mssante.fr")
MSSANTE_X_MSS_NIL = env_str("MSSANTE_X_MSS_NIL", "" if PRODUCTION else "CONCERTO-DEMO")
MSSANTE_MESSAGE_ID_DOMAIN = env_str(
    "MSSANTE_MESSAGE_ID_DOMAIN", "" if PRODUCTION else "concerto.demo.invalid"
)
# Sending starts on the notification day at this hour (Europe/Paris).
NOTIFY_SEND_HOUR = env_str("NOTIFY_SEND_HOUR", "08:00")
# At least twice the worst case of one message (notifications.worker.lease_needed: the SMTP
# time-outs and NOTIFY_DB_RETRY_SECONDS); ``concerto notify`` checks it.
NOTIFY_LEASE_SECONDS = env_int("NOTIFY_LEASE_SECONDS", 1800)
NOTIFY_BATCH_SIZE = env_int("NOTIFY_BATCH_SIZE", 100)
NOTIFY_RETRY_BASE_SECONDS = env_int("NOTIFY_RETRY_BASE_SECONDS", 60)
NOTIFY_RETRY_MAX_SECONDS = env_int("NOTIFY_RETRY_MAX_SECONDS", 3600)
NOTIFY_LOOP_INTERVAL_SECONDS = env_int("NOTIFY_LOOP_INTERVAL_SECONDS", 60)
# How long the worker keeps retrying to record an outcome while the database is away.
NOTIFY_DB_RETRY_SECONDS = env_int("NOTIFY_DB_RETRY_SECONDS", 60)
# The demo mail sink: where it listens and where it writes the .eml files.
MAIL_SINK_DIR = Path(env_str("CONCERTO_MAIL_SINK_DIR", str(DATA_DIR / "mail")))
MAIL_SINK_TLS_DIR = _mail_tls_dir
# (`concerto notify` refuses to start without the client certificate, key and CA bundle.)
