from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from tests.builders import paris

# Every test here runs "as of" this instant (a Monday morning, Europe/Paris).
NOW = paris(2026, 3, 2, 9)
SESSION_DAY = dt.date(2026, 3, 17)  # a Tuesday two weeks later

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
MZ = b"MZ\x90\x00\x03" + b"\x00" * 64


@pytest.fixture(autouse=True, scope="session")
def static_root_exists():
    # WhiteNoise warns (an error under pytest) when STATIC_ROOT is missing.
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def documents_dir(settings, tmp_path):
    settings.DOCUMENTS_DIR = tmp_path / "documents"
    return settings.DOCUMENTS_DIR


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
