"""Open an extraction file given as .txt or as the downloaded .zip, as a byte stream.

Nothing is read whole: the stream is consumed line by line by the importer.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BUFFER = 1 << 20
# What a damaged or truncated archive raises while being read.
ARCHIVE_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error)


class SourceError(ValueError):
    """The file cannot be read (missing, not a valid archive, …). Message in French."""


@dataclass
class Source:
    path: Path
    name: str  # as shown in reports: "archive.zip:file.txt" or "file.txt"
    stream: BinaryIO
    size: int  # uncompressed bytes, for the progress bar


@contextmanager
def open_source(path: Path) -> Iterator[Source]:
    if not path.is_file():
        raise SourceError(f"{path} : fichier introuvable.")
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(
                f"{path.name} : archive ZIP illisible ou tronquée ({exc}). Rien n'a été modifié."
            ) from exc
        with archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir() and info.filename.lower().endswith((".txt", ".csv"))
            ]
            if len(members) != 1:
                raise SourceError(
                    f"{path.name} : l'archive doit contenir exactement un fichier .txt "
                    f"(trouvé : {len(members)})."
                )
            info = members[0]
            try:
                raw = archive.open(info)
            except ARCHIVE_ERRORS as exc:
                raise SourceError(f"{path.name} : archive ZIP endommagée ({exc}).") from exc
            with raw, io.BufferedReader(raw, BUFFER) as stream:  # type: ignore[arg-type,type-var]
                yield Source(path, f"{path.name}:{info.filename}", stream, info.file_size)
        return
    with open(path, "rb", buffering=BUFFER) as stream:
        yield Source(path, path.name, stream, path.stat().st_size)
