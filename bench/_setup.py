"""Shared set-up for the notification benchmarks: a dedicated database, migrated, and
bulk-built fictional data (benchmarks may bypass the actions; tests may not)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PARIS = ZoneInfo("Europe/Paris")


def use_database(suffix: str) -> str:
    """Point Django at a fresh database derived from DATABASE_URL (PostgreSQL) or a
    SQLite file under /tmp; returns its URL."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        import psycopg

        parts = urlsplit(base)
        name = f"{parts.path.lstrip('/')}_{suffix}"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        url = urlunsplit(parts._replace(path=f"/{name}"))
    else:
        path = Path(f"/tmp/concerto-bench-{suffix}.sqlite3")
        for extra in ("", "-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concerto.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def has_address(index: int) -> bool:
    return index % 10 != 9  # one GP in ten has no MSSanté address


def luhn_rpps(index: int) -> str:
    from stdnum import luhn

    base = f"197{index:07d}"
    return base + luhn.calc_check_digit(base)


class Region:
    """Bulk builder: territory, boards, users, directory, patients, sessions, registrations."""

    def __init__(self, boards: int = 50) -> None:
        from concerto.accounts.models import User
        from concerto.rcp.models import Board, Territory

        self.territory = Territory.objects.create(slug="bench", name="Territoire banc d'essai")
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self.boards = Board.objects.bulk_create(
            [
                Board(
                    territory=self.territory,
                    title=f"RCP banc {i}",
                    specialty="Digestif",
                    # The last fifth of the boards did not opt in.
                    notifications_enabled=i < boards * 4 // 5,
                    notifications_enabled_at=now if i < boards * 4 // 5 else None,
                    webconference_url="https://visio.exemple.test/rcp",
                )
                for i in range(boards)
            ]
        )
        self.registrar = User.objects.create(username="bench-inscripteur", is_registrar=True)
        self.gp_count = 0
        self.per_date: dict[dt.date, int] = {}
        self.patient_count = 0

    def directory(self, count: int) -> None:
        from concerto.directory.models import MSSanteAddress, Professional

        start = self.gp_count
        numbers = [luhn_rpps(start + i) for i in range(count)]
        Professional.objects.bulk_create(
            [Professional(rpps=n, last_name=f"BANCFICTIF{i}") for i, n in enumerate(numbers)],
            batch_size=5000,
        )
        MSSanteAddress.objects.bulk_create(
            [
                MSSanteAddress(address=f"gp.{n}@medecin.mssante.fr", kind="PER", rpps=n)
                for i, n in enumerate(numbers)
                if has_address(start + i)
            ],
            batch_size=5000,
        )
        self.gp_count += count

    def sessions(self, dates: list[dt.date]) -> list:
        from concerto.rcp.models import Session

        rows = []
        for day in dates:
            # A distinct (board, hour) per date, across calls: sessions are unique.
            i = self.per_date.get(day, 0)
            self.per_date[day] = i + 1
            board = self.boards[i % len(self.boards)]
            time = dt.time(8 + i // len(self.boards), 0)
            session = Session(board=board, date=day, time=time)
            session.starts_at = Session.local_start(day, time).astimezone(dt.UTC)
            rows.append(session)
        return Session.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=False)

    def registrations(
        self,
        sessions: list,
        per_session: int,
        completed_days_before: int = 8,
        reachable_only: bool = False,
    ) -> int:
        from concerto.patients.models import Patient
        from concerto.rcp.models import Registration

        patients = []
        gp_index = 0
        for _session in sessions:
            for _ in range(per_session):
                n = self.patient_count
                self.patient_count += 1
                gp_index = (gp_index + 1) % max(self.gp_count, 1)
                while reachable_only and not has_address(gp_index):
                    gp_index = (gp_index + 1) % self.gp_count
                patients.append(
                    Patient(
                        birth_name=f"BANCFICTIF{n}",
                        first_names="DENIS",
                        sex="M",
                        birth_date=dt.date(1950, 1, 1) + dt.timedelta(days=n % 9000),
                        birth_place_code="86194",
                        gp_name="Dr BANC",
                        gp_rpps=luhn_rpps(gp_index),
                    )
                )
        patients = Patient.objects.bulk_create(patients, batch_size=5000)
        registrations = []
        index = 0
        for session in sessions:
            completed = session.starts_at - dt.timedelta(days=completed_days_before)
            for _ in range(per_session):
                registrations.append(
                    Registration(
                        session=session,
                        patient=patients[index],
                        registered_by=self.registrar,
                        registered_at=completed - dt.timedelta(days=2),
                        reason="Bilan",
                        cim10_code="C18.7",
                        cim10_label="Tumeur maligne du côlon sigmoïde",
                        question="Stratégie ?",
                        prefiche_completed_at=completed,
                    )
                )
                index += 1
        Registration.objects.bulk_create(registrations, batch_size=5000)
        return len(registrations)
