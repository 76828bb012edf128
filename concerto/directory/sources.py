"""Open an extraction file given as .txt or as the downloaded .zip, as a byte stream.

Nothing is read whole: the stream is consumed line by line by the importer.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUFFER = 1 << 20
# What a damaged or truncated archive raises while being read.
ARCHIVE_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error)


class SourceError(ValueError):
    """The file cannot be read (missing, not a valid archive, …). Message in French."""


class HashingReader(io.RawIOBase):
    """Feeds every block read to a digest: the whole content is hashed for the cost of
    one call per megabyte, while the lines above are read at C speed."""

    def __init__(self, inner: Any, digest: Any) -> None:
        self._inner = inner
        self.digest = digest
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.digest.update(data)
        self._position += size
        return size

    def tell(self) -> int:  # for the progress bar (bytes read so far)
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset == 0 and whence == io.SEEK_CUR:
            return self._position
        raise io.UnsupportedOperation("seek")


@dataclass
class Source:
    path: Path
    name: str  # as shown in reports: "archive.zip:file.txt" or "file.txt"
    stream: Any  # a buffered binary reader: iterate lines, tell()
    size: int  # uncompressed bytes, for the progress bar
    digest: Any  # hashlib object: SHA-256 of everything read so far
    plain: bool = False  # a file on disk, not an archive member: its parts can be read apart
    fd: int | None = None  # (plain) the descriptor it is read through

    def reopened(self) -> Path:
        """A path to the very file this source reads, for another open of it (its own
        position) or a forked process: /proc/self/fd, which still leads to the file read
        if its name has been replaced since (Linux); the path elsewhere."""
        if self.fd is not None:
            proc = Path(f"/proc/self/fd/{self.fd}")
            if proc.exists():
                return proc
        return self.path


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
            digest = hashlib.sha256()
            with raw, io.BufferedReader(HashingReader(raw, digest), BUFFER) as stream:
                yield Source(path, f"{path.name}:{info.filename}", stream, info.file_size, digest)
        return
    digest = hashlib.sha256()
    with (
        open(path, "rb", buffering=0) as raw_file,
        io.BufferedReader(HashingReader(raw_file, digest), BUFFER) as stream,
    ):
        yield Source(
            path, path.name, stream, path.stat().st_size, digest, plain=True, fd=raw_file.fileno()
        )
