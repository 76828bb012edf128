"""A seeded dataset for the GP portal: several GPs, each with an upcoming registration
(documents attached) and a past one with a validated compte-rendu and a PPS. Built
through the real actions, "as of" the instants things would have happened."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from concerto.accounts.models import User
from concerto.lib import clock
from concerto.rcp import actions
from concerto.rcp.models import PPS, CompteRendu, Document, Registration
from tests import builders

# WhiteNoise warns (an error under pytest) when STATIC_ROOT does not exist yet: in demo
# and tests the assets are served from the source folders, the folder just has to exist.
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)

TODAY = clock.now().astimezone(builders.PARIS).date()
PASSWORD = "test-password-123"


@dataclass
class GPCase:
    user: User
    upcoming: Registration
    past: Registration
    compte_rendu: CompteRendu
    pps: PPS
    document: Document

    def patient_urls(self) -> list[tuple[str, str]]:
        """(method, url) of every patient-data URL of this GP's patients."""
        return [
            ("get", reverse("portal:prefiche", args=[self.upcoming.pk])),
            ("get", reverse("portal:prefiche", args=[self.past.pk])),
            ("post", reverse("portal:contribute", args=[self.upcoming.pk])),
            ("post", reverse("portal:contribute", args=[self.past.pk])),
            ("get", reverse("portal:compte_rendu", args=[self.past.pk])),
            ("get", reverse("portal:pps", args=[self.pps.pk])),
            ("get", reverse("rcp:document-download", args=[self.document.pk])),
        ]


@dataclass
class PortalWorld:
    world: builders.World
    gps: list[GPCase] = field(default_factory=list)


def attach_document(registration: Registration, by: Any, docs_dir: Path, title: str) -> Document:
    content = b"%PDF-1.4\n% document fictif\n"
    stored = uuid.uuid4().hex
    docs_dir.mkdir(parents=True, exist_ok=True)
    (docs_dir / stored).write_bytes(content)
    return Document.objects.create(
        registration=registration,
        title=title,
        original_name="compte-rendu-imagerie.pdf",
        content_type="application/pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        stored_name=stored,
        uploaded_by=by,
        uploaded_at=clock.now(),
    )


def make_gp_case(world: builders.World, docs_dir: Path, index: int) -> GPCase:
    professional = builders.gp()
    user = builders.user(
        f"gp{index}-{professional.rpps}",
        rpps=professional.rpps,
        specialty="Médecine Générale",
        last_name=f"GENERALISTEFICTIF{index}",
    )
    future_day = TODAY + dt.timedelta(days=14 + index)
    past_day = TODAY - dt.timedelta(days=20 + index)
    with clock.as_of(
        builders.paris(past_day.year, past_day.month, past_day.day) - dt.timedelta(days=40)
    ):
        past_session = world.session(past_day, dt.time(14, index % 60))
        future_session = world.session(future_day, dt.time(14, index % 60))
        patient_a = world.patient(gp_rpps=user.rpps, birth_name=f"FICTIFA{index}")
        patient_b = world.patient(gp_rpps=user.rpps, birth_name=f"FICTIFB{index}", sex="F")
        past = world.register(past_session, patient_b)
    upcoming = world.register(future_session, patient_a)
    document = attach_document(upcoming, world.registrar, docs_dir, "Imagerie (fictive)")
    after = past_session.starts_at + dt.timedelta(hours=2)
    with clock.as_of(after):
        compte_rendu = actions.validate_compte_rendu(
            by=world.participants[0][0],
            registration=past,
            case_status="discussed",
            proposal="Surveillance (proposition fictive).",
            attendees=world.attendees(),
        )
    with clock.as_of(after + dt.timedelta(days=2)):
        pps = actions.generate_pps(
            by=world.participants[0][0],
            compte_rendu=compte_rendu,
            doctor_name="BENANDFICTIF Philippe",
            establishment_name="Polyclinique Imaginaire",
            content="Programme fictif.",
        )
    return GPCase(user, upcoming, past, compte_rendu, pps, document)


@pytest.fixture
def docs_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DOCUMENTS_DIR = tmp_path / "documents"
    return settings.DOCUMENTS_DIR


@pytest.fixture
def portal_world(db: None, docs_dir: Path) -> PortalWorld:
    world = builders.World()
    result = PortalWorld(world=world)
    for index in range(3):
        result.gps.append(make_gp_case(world, docs_dir, index))
    return result


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, str]]:
    """Registrations (id, rpps) for which a notice was sent (``notice_sent`` answers one,
    announcing the session's current date)."""
    pairs: set[tuple[int, str]] = set()
    from concerto.notifications import queries

    def notice_sent(registration: Any, rpps: str) -> Any:
        if (registration.pk, rpps) not in pairs:
            return None
        starts_at = registration.session.starts_at
        return SimpleNamespace(sent_at=starts_at, session_starts_at=starts_at)

    monkeypatch.setattr(queries, "notice_sent", notice_sent)
    return pairs
