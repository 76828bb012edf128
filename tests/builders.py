"""Test data built through the real actions (Zulip's testing style).

Each builder takes what the test cares about and fills the rest with valid,
obviously fictional values.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from stdnum import luhn

from concerto.accounts.models import User
from concerto.directory.models import MSSanteAddress, Professional
from concerto.lib import clock
from concerto.patients import actions as patient_actions
from concerto.patients.models import Patient
from concerto.rcp import actions, rules
from concerto.rcp.models import Board, BoardMembership, Registration, Session, Territory

# A complete production configuration (fictional values), for the tests that start
# ``python -m concerto`` under production settings.
PRODUCTION_ENV = {
    "CONCERTO_MODE": "production",
    "SECRET_KEY": "k" * 20 + "production-secret-for-tests-only-" + "z" * 20,
    "ALLOWED_HOSTS": "dcc.exemple.test",
    "DATABASE_URL": "postgresql://concerto@127.0.0.1:5432/concerto",
    "CSRF_TRUSTED_ORIGINS": "https://dcc.exemple.test",
    "PSC_ISSUER": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
    "PSC_CLIENT_ID": "concerto-test",
    "PSC_CLIENT_SECRET": "secret-for-tests-only",
    "PSC_REDIRECT_URI": "https://dcc.exemple.test/connexion/psc/retour/",
    "CONCERTO_SITE_URL": "https://dcc.exemple.test",
}

PARIS = ZoneInfo("Europe/Paris")
_seq = itertools.count(1)


def rpps(n: int | None = None) -> str:
    base = f"198{(n if n is not None else next(_seq)):07d}"
    return base + luhn.calc_check_digit(base)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def user(username: str | None = None, **extra: Any) -> User:
    n = next(_seq)
    # No password (unusable, nothing hashed): nobody logs in with one, PSC or the demo
    # login does, and the tests use force_login.
    return User.objects.create_user(
        username=username or f"user{n}",
        password=None,
        last_name=extra.pop("last_name", f"TESTNOM{n}"),
        first_name=extra.pop("first_name", "Test"),
        **extra,
    )


def territory(slug: str = "ex-poitou-charentes", subdivision: str = "") -> Territory:
    obj, _ = Territory.objects.get_or_create(
        slug=slug,
        defaults={"name": slug.replace("-", " ").title(), "holiday_subdivision": subdivision},
    )
    return obj


def gp(*, with_address: bool = True, **extra: Any) -> Professional:
    number = extra.pop("rpps", None) or rpps()
    professional = Professional.objects.create(
        rpps=number,
        last_name=extra.pop("last_name", f"GENERALISTE{number[-4:]}"),
        first_name=extra.pop("first_name", "Test"),
        profession_code=extra.pop("profession_code", "10"),
        specialty_label="Médecine Générale",
        **extra,
    )
    if with_address:
        MSSanteAddress.objects.create(
            address=f"gp.{number}@medecin.mssante.fr", kind="PER", rpps=number
        )
    return professional


class World:
    """A board with its organiser, registrar and three participants of distinct specialties."""

    def __init__(
        self,
        *,
        opted_in: bool = True,
        webconference: bool = True,
        subdivision: str = "",
        title: str | None = None,
    ) -> None:
        self.secretary = user(is_staff=True)
        self.registrar = user(is_registrar=True)
        self.participants = [
            (user(specialty=spec), spec)
            for spec in (rules.SURGERY, rules.MEDICAL_ONCOLOGY, rules.RADIOTHERAPY)
        ]
        self.territory = territory(f"territoire-{next(_seq)}", subdivision)
        self.board = actions.create_board(
            by=self.secretary,
            territory=self.territory,
            title=title or f"RCP test {next(_seq)}",
            specialty="Digestif",
            usual_weekday=1,
            usual_time=dt.time(14, 0),
            webconference_url="https://visio.exemple.test/rcp" if webconference else "",
            webconference_code="134679" if webconference else "",
        )
        actions.add_member(
            by=self.secretary,
            board=self.board,
            user=self.secretary,
            role=BoardMembership.Role.ORGANISER,
        )
        for member, spec in self.participants:
            actions.add_member(
                by=self.secretary,
                board=self.board,
                user=member,
                role=BoardMembership.Role.PARTICIPANT,
                specialty=spec,
            )
        if opted_in:
            for member in [self.secretary] + [m for m, _ in self.participants]:
                actions.record_notification_consent(
                    by=member, board=self.board, user=member, agreed=True
                )
            actions.enable_notifications(by=self.secretary, board=self.board)

    def session(self, date: dt.date, time: dt.time = dt.time(14, 0)) -> Session:
        return actions.schedule_session(by=self.secretary, board=self.board, date=date, time=time)

    def patient(
        self, *, gp_rpps: str | None = None, gp_name: str = "Dr TEST", **extra: Any
    ) -> Patient:
        n = next(_seq)
        defaults: dict[str, Any] = {
            "birth_name": f"FICTIF{n}",
            "first_names": "DENIS JEAN",
            "sex": "M",
            "birth_date": dt.date(1944, 9, 14),
            "birth_place_code": "86194",
        }
        defaults.update(extra)
        return patient_actions.create_patient(
            by=self.registrar, gp_rpps=gp_rpps, gp_name=gp_name if gp_rpps else "", **defaults
        )

    def register(
        self, session: Session, patient: Patient, *, complete: bool = True, **prefiche: Any
    ) -> Registration:
        fields = {
            "reason": "Bilan",
            "cim10_code": "C04.0",
            "cim10_label": "Tumeur maligne du plancher antérieur de la bouche",
            "question": "Quelle stratégie ?",
        }
        fields.update(prefiche)
        registration = actions.register_patient(
            by=self.registrar, session=session, patient=patient, **fields
        )
        if complete:
            registration = actions.complete_prefiche(by=self.registrar, registration=registration)
        return registration

    def attendees(self) -> list[tuple[User, str]]:
        return list(self.participants)

    def decide(
        self,
        registration: Registration,
        case_status: str = "discussed",
        proposal: str = "Surveillance (proposition fictive).",
    ) -> Any:
        """The board's decision on ``registration``, validated by its first participant,
        every participant present."""
        return actions.validate_compte_rendu(
            by=self.participants[0][0],
            registration=registration,
            case_status=case_status,
            proposal=proposal,
            attendees=self.attendees(),
        )


def at(instant: dt.datetime) -> Any:
    """Act as of ``instant`` (context manager)."""
    return clock.as_of(instant)


__all__ = ["World", "at", "gp", "paris", "rpps", "territory", "user", "Board"]
