"""Uploaded documents: type from content (magic bytes), size limit, private storage.

Files live under ``settings.DOCUMENTS_DIR`` (outside any web root) with a random
name; they are served only by the authorised download view.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from django.conf import settings

from concerto.lib.errors import ActionRefused

# (signature, content type, extension)
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
ACCEPTED_LABEL = "PDF, PNG ou JPEG"


def sniff(head: bytes) -> str | None:
    """The content type announced by the first bytes, or None if not accepted."""
    for signature, content_type, _ in SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None


def extension_for(content_type: str) -> str:
    for _, known, extension in SIGNATURES:
        if known == content_type:
            return extension
    return "bin"


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} Mo".replace(".", ",")
    if size >= 1024:
        return f"{size / 1024:.0f} Ko"
    return f"{size} octets"


def check_size(size: int) -> None:
    limit = settings.DOCUMENT_MAX_BYTES
    if size > limit:
        raise ActionRefused(
            f"Le fichier est trop volumineux ({human_size(size)}) : "
            f"la taille maximale autorisée est de {human_size(limit)}."
        )
    if size == 0:
        raise ActionRefused("Le fichier est vide.")


def check_content(content: bytes) -> str:
    content_type = sniff(content[:16])
    if content_type is None:
        raise ActionRefused(
            f"Type de fichier refusé : seuls les documents {ACCEPTED_LABEL} sont acceptés "
            "(le type est vérifié d'après le contenu du fichier, pas d'après son nom)."
        )
    return content_type


def documents_dir() -> Path:
    directory = Path(settings.DOCUMENTS_DIR)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def store(content: bytes) -> str:
    """Write ``content`` under a fresh random name; returns the name."""
    name = secrets.token_hex(24)
    path = documents_dir() / name
    # Never overwrite; readable by the service's account only, whatever the umask and
    # the folder's own mode (one prepared by the operator may be 0755).
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return name


def path_of(stored_name: str) -> Path:
    if not stored_name or "/" in stored_name or "\\" in stored_name or stored_name[0] == ".":
        raise ValueError("nom de stockage invalide")
    return documents_dir() / stored_name


def discard(stored_name: str) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        path_of(stored_name).unlink()
