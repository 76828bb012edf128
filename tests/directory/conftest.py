from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(autouse=True, scope="session")
def _static_root_exists() -> None:
    # WhiteNoise warns (an error under pytest) when STATIC_ROOT is missing; the admin
    # pages these tests open go through it.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
