"""Typed readers for settings taken from the environment.

A missing mandatory value stops start-up with a message that names it
(healthchecks' ``envbool``/``envint`` helpers, job-server's ``get_env_var``).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ConfigurationError(f"La variable d'environnement {name} est obligatoire.")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on", "oui"}:
        return True
    if lowered in {"0", "false", "no", "off", "non"}:
        return False
    raise ConfigurationError(f"{name} doit valoir true ou false (reçu {value!r}).")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name} doit être un entier (reçu {value!r}).") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_database_url(url: str) -> dict[str, object]:
    """``postgresql://user:pw@host:port/name`` or ``sqlite:///path`` → DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        config: dict[str, object] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
        options = dict(parse_qsl(parts.query))
        if options:
            config["OPTIONS"] = options
        if not config["NAME"]:
            raise ConfigurationError("DATABASE_URL doit nommer la base (…/nom_de_base).")
        return config
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        # sqlite:///var/db → "var/db" (relative); sqlite:////tmp/db → "/tmp/db".
        path = unquote(parts.path)[1:]
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:"}
    raise ConfigurationError(
        f"DATABASE_URL: schéma {scheme!r} non pris en charge (postgresql:// ou sqlite:///)."
    )
