"""The demo region: a deterministic, obviously fictional dataset (``concerto seed-demo``).

Everything is written through the real actions, "as of" the instant it would have
happened (see :mod:`concerto.lib.clock`), so the history is consistent: audit events,
news lines, completion instants. Names are obviously fake (FICTIF, EXEMPLE, …).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Permission
from django.db import transaction
from stdnum import luhn

from concerto.accounts.models import User
from concerto.directory.models import Establishment, MSSanteAddress, Professional
from concerto.lib import clock
from concerto.lib.identifiers import INS_OID_NIR_DEMO, ins_key
from concerto.notifications.calendar import is_business_day, notification_day
from concerto.patients import actions as patient_actions
from concerto.patients.models import Patient
from concerto.rcp import actions, rules
from concerto.rcp.models import Board, BoardMembership, Registration, Session, Territory

PARIS = ZoneInfo("Europe/Paris")
SEED = 20260913

TERRITORIES = [
    ("ex-limousin", "ex-Limousin"),
    ("ex-poitou-charentes", "ex-Poitou-Charentes"),
    ("ex-aquitaine", "ex-Aquitaine"),
]
ESTABLISHMENTS = [
    ("860000019", "Polyclinique Imaginaire de Poitiers", "Poitiers"),
    ("870000018", "CHU Fictif de Limoges", "Limoges"),
    ("330000017", "Institut Exemple de Bordeaux", "Bordeaux"),
    ("170000016", "Centre Hospitalier Démo de La Rochelle", "La Rochelle"),
]
# (territory slug, title, specialty, weekday, hour, webconference, opted in)
BOARDS = [
    (
        "ex-poitou-charentes",
        "Tumeurs rares neuroendocrines RENATEN",
        "Neuroendocrine",
        1,
        14,
        True,
        True,
    ),
    ("ex-poitou-charentes", "Digestif Poitiers", "Digestif", 0, 17, True, True),
    ("ex-poitou-charentes", "Sein et gynécologie Poitiers", "Sénologie", 3, 12, False, True),
    ("ex-poitou-charentes", "ORL et maxillo-faciale", "ORL", 2, 13, True, False),
    ("ex-limousin", "Thoracique Limoges", "Thorax", 1, 16, True, True),
    ("ex-limousin", "Urologie Limoges", "Urologie", 3, 17, False, False),
    ("ex-limousin", "Hématologie Limousin", "Hématologie", 4, 9, True, True),
    ("ex-limousin", "Neuro-oncologie Limousin", "Neuro-oncologie", 0, 12, False, True),
    ("ex-aquitaine", "Digestif Bordeaux", "Digestif", 2, 8, True, True),
    ("ex-aquitaine", "Dermatologie Bordeaux", "Dermatologie", 4, 14, False, False),
    ("ex-aquitaine", "Sarcomes Aquitaine", "Sarcomes", 1, 18, True, True),
    ("ex-aquitaine", "Gynécologie Bordeaux", "Gynécologie", 3, 8, False, True),
]
PARTICIPANTS = [
    ("demo-oncologue", "ONCOFICTIF", "Odile", rules.MEDICAL_ONCOLOGY),
    ("demo-chirurgien", "CHIRUREXEMPLE", "Charles", rules.SURGERY),
    ("demo-radiotherapeute", "RADIODEMO", "Rachel", rules.RADIOTHERAPY),
    ("demo-pathologiste", "ANAPATHFICTIF", "Paul", "Anatomopathologie"),
    ("demo-radiologue", "IMAGERIEDEMO", "Irène", "Radiologie"),
]
FAKE_NAMES = [
    "DCC",
    "FICTIF",
    "EXEMPLE",
    "ESSAI",
    "DEMO",
    "TESTNOM",
    "SYNTHESE",
    "MODELE",
    "SIMULE",
    "IMAGINAIRE",
    "POSTICHE",
    "FACTICE",
]
SUFFIXES = [
    "",
    "-ALPHA",
    "-BRAVO",
    "-CHARLIE",
    "-DELTA",
    "-ECHO",
    "-FOXTROT",
    "-GOLF",
    "-HOTEL",
    "-INDIA",
    "-JULIET",
    "-KILO",
    "-LIMA",
    "-MIKE",
    "-NOVEMBER",
    "-OSCAR",
    "-PAPA",
    "-QUEBEC",
    "-ROMEO",
    "-SIERRA",
    "-TANGO",
    "-UNIFORM",
    "-VICTOR",
    "-WHISKEY",
    "-XRAY",
]
FIRST_NAMES_M = [
    "DENIS",
    "JEAN",
    "PIERRE",
    "MICHEL",
    "ANDRE",
    "PHILIPPE",
    "ALAIN",
    "BERNARD",
    "LUC",
    "YVES",
]
FIRST_NAMES_F = [
    "MARIE",
    "JEANNE",
    "FRANCOISE",
    "MONIQUE",
    "CATHERINE",
    "NATHALIE",
    "ISABELLE",
    "SYLVIE",
    "ANNE",
    "MARTINE",
]
GP_FIRST = [
    "Gaspard",
    "Hélène",
    "Bruno",
    "Claire",
    "Damien",
    "Elise",
    "Fabrice",
    "Gaëlle",
    "Hugo",
    "Inès",
]
SITES = [
    ("C04.0", "Tumeur maligne du plancher antérieur de la bouche"),
    ("C18.7", "Tumeur maligne du côlon sigmoïde"),
    ("C34.1", "Tumeur maligne du lobe supérieur, bronches ou poumon"),
    ("C50.4", "Tumeur maligne du quadrant supéro-externe du sein"),
    ("C61", "Tumeur maligne de la prostate"),
    ("C25.4", "Tumeur maligne du pancréas endocrine"),
    ("C43.5", "Mélanome malin du tronc"),
    ("C71.1", "Tumeur maligne du lobe frontal"),
    ("C49.2", "Tumeur maligne du tissu conjonctif du membre inférieur"),
    ("C56", "Tumeur maligne de l'ovaire"),
    ("C83.3", "Lymphome diffus à grandes cellules B"),
    ("C17.0", "Tumeur maligne du duodénum"),
]
DEMO_GP_RPPS = "19999999998"
DEMO_GP_USERNAME = "demo-medecin"


@dataclass
class SeedReport:
    created: bool
    counts: Counter[str] = field(default_factory=Counter)


def synthetic_rpps(index: int) -> str:
    """Luhn-valid fictional RPPS in the 199… range (never a real prefix in use)."""
    base = f"199{index:07d}"
    return base + luhn.calc_check_digit(base)


def _aware(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)


def _user(username: str, last: str, first: str, **extra: object) -> User:
    user = User(username=username, last_name=last, first_name=first, **extra)
    user.set_unusable_password()  # no password form anywhere: the demo login or PSC
    user.save()
    return user


def _sessions_for(board: Board, start: dt.date, end: dt.date) -> list[dt.date]:
    assert board.usual_weekday is not None
    day = start + dt.timedelta(days=(board.usual_weekday - start.weekday()) % 7)
    dates = []
    while day <= end:
        if is_business_day(day, board.territory.holiday_subdivision):
            dates.append(day)
        day += dt.timedelta(days=7)
    return dates


def is_seeded() -> bool:
    return User.objects.filter(username=DEMO_GP_USERNAME).exists()


@transaction.atomic
def seed_demo(*, now: dt.datetime | None = None) -> SeedReport:
    """Create the demo region once; a second run changes nothing."""
    if is_seeded():
        return SeedReport(created=False)
    now = now or clock.now()
    today = now.astimezone(PARIS).date()
    rng = random.Random(SEED)
    report = SeedReport(created=True)
    counts = report.counts

    # People -------------------------------------------------------------------------
    _user(
        "demo-admin",
        "ADMINFICTIF",
        "Alice",
        is_staff=True,
        is_superuser=True,
        is_regional_admin=True,
    )
    secretary = _user("demo-secretaire", "SECRETAIREDEMO", "Sophie", is_staff=True)
    secretary.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["rcp", "patients"])
    )
    registrar = _user(
        "demo-inscripteur",
        "INSCRIPTEUREXEMPLE",
        "Igor",
        is_registrar=True,
        specialty=rules.MEDICAL_ONCOLOGY,
        rpps=synthetic_rpps(9001),
    )
    participants = [
        (_user(username, last, first, specialty=spec, rpps=synthetic_rpps(9100 + i)), spec)
        for i, (username, last, first, spec) in enumerate(PARTICIPANTS)
    ]
    counts["users"] = 3 + len(participants)

    territories = {
        slug: Territory.objects.create(slug=slug, name=name) for slug, name in TERRITORIES
    }
    establishments = [
        Establishment.objects.create(finess=finess, name=name, city=city)
        for finess, name, city in ESTABLISHMENTS
    ]

    # GPs in the directory: ~100, most with a personal MSSanté address ---------------
    gps: list[Professional] = []
    demo_gp = Professional.objects.create(
        rpps=DEMO_GP_RPPS,
        civility="DR",
        last_name="MEDECINFICTIF",
        first_name="Gaspard",
        profession_code="10",
        profession_label="Médecin",
        specialty_code="SM54",
        specialty_label="Médecine Générale",
    )
    MSSanteAddress.objects.create(
        address="gaspard.medecinfictif@medecin.mssante.fr", kind="PER", rpps=DEMO_GP_RPPS
    )
    MSSanteAddress.objects.create(
        address="cabinet.fictif@cabinet-demo.mssante.fr",
        kind="ORG",
        rpps=DEMO_GP_RPPS,
        structure_name="Cabinet médical fictif",
    )
    gps.append(demo_gp)
    for index in range(1, 100):
        last = f"GENERALISTE{FAKE_NAMES[index % len(FAKE_NAMES)]}{index:02d}"
        first = GP_FIRST[index % len(GP_FIRST)]
        gp = Professional.objects.create(
            rpps=synthetic_rpps(index),
            civility="DR",
            last_name=last,
            first_name=first,
            profession_code="10",
            profession_label="Médecin",
            specialty_code="SM54",
            specialty_label="Médecine Générale",
        )
        if index % 9 != 0:  # about one GP in nine has no MSSanté address
            MSSanteAddress.objects.create(
                address=f"{first.lower()[:1]}.{last.lower()}@medecin.mssante.fr",
                kind="PER",
                rpps=gp.rpps,
            )
        gps.append(gp)
    counts["professionals"] = len(gps)
    counts["mssante_addresses"] = MSSanteAddress.objects.count()
    _user(
        DEMO_GP_USERNAME,
        "MEDECINFICTIF",
        "Gaspard",
        rpps=DEMO_GP_RPPS,
        specialty="Médecine Générale",
    )
    other_gp = gps[1]
    _user(
        "demo-medecin-2",
        other_gp.last_name,
        other_gp.first_name,
        rpps=other_gp.rpps,
        specialty="Médecine Générale",
    )

    # Boards -------------------------------------------------------------------------
    boards: list[Board] = []
    with clock.as_of(now - dt.timedelta(days=120)):
        for i, (slug, title, spec, weekday, hour, webconf, opted) in enumerate(BOARDS):
            board = actions.create_board(
                by=secretary,
                territory=territories[slug],
                title=title,
                specialty=spec,
                establishment=establishments[i % len(establishments)],
                usual_weekday=weekday,
                usual_time=dt.time(hour, 0),
                webconference_url=f"https://visio.exemple.test/rcp-{i + 1:02d}" if webconf else "",
                webconference_code=f"{134679 + i * 1111}" if webconf else "",
                requires_core_specialties=(i == 0),
            )
            actions.add_member(
                by=secretary, board=board, user=secretary, role=BoardMembership.Role.ORGANISER
            )
            for user, spec_name in participants:
                actions.add_member(
                    by=secretary,
                    board=board,
                    user=user,
                    role=BoardMembership.Role.PARTICIPANT,
                    specialty=spec_name,
                )
            if opted:
                for member in [secretary] + [u for u, _ in participants]:
                    actions.record_notification_consent(
                        by=member, board=board, user=member, agreed=True
                    )
                actions.enable_notifications(by=secretary, board=board)
            boards.append(board)
    counts["boards"] = len(boards)
    renaten = boards[0]
    no_optin_board = boards[3]

    # Sessions: every usual weekday from 2 months back to 2 months ahead ---------------
    start, end = today - dt.timedelta(days=61), today + dt.timedelta(days=61)
    sessions: list[Session] = []
    with clock.as_of(now - dt.timedelta(days=90)):
        for board in boards:
            assert board.usual_time is not None
            for day in _sessions_for(board, start, end):
                sessions.append(
                    actions.schedule_session(
                        by=secretary, board=board, date=day, time=board.usual_time
                    )
                )
    # One session cancelled ahead, to show it.
    future = [s for s in sessions if s.date > today + dt.timedelta(days=14)]
    with clock.as_of(now - dt.timedelta(days=1)):
        actions.cancel_session(by=secretary, session=future[3])
    counts["sessions"] = len(sessions)

    # Patients ------------------------------------------------------------------------
    patients: list[Patient] = []
    with clock.as_of(now - dt.timedelta(days=100)):
        for index in range(300):
            sex = "M" if index % 2 == 0 else "F"
            first = (FIRST_NAMES_M if sex == "M" else FIRST_NAMES_F)[index % 10]
            birth = dt.date(1935 + index % 55, 1 + index % 12, 1 + index % 28)
            name = FAKE_NAMES[index % len(FAKE_NAMES)] + SUFFIXES[index // len(FAKE_NAMES)]
            gp = gps[0] if index < 6 else gps[index % len(gps)]
            qualified = index % 3 == 0
            gp_name: str = f"Dr {gp.display_name}"
            gp_rpps: str | None = gp.rpps
            if index % 50 == 7:  # declared GP known by name only (no RPPS)
                gp_name, gp_rpps = f"Dr {gp.last_name} (RPPS inconnu)", None
            elif index % 50 == 13:  # no declared GP
                gp_name, gp_rpps = "", None
            ins = None
            if qualified:
                nir = f"{1 if sex == 'M' else 2}{birth:%y%m}86194{index:03d}"
                ins = f"{nir}{ins_key(nir):02d}"
            patients.append(
                patient_actions.create_patient(
                    by=registrar,
                    birth_name=name,
                    first_names=f"{first} {FIRST_NAMES_M[index % 7]}"
                    if sex == "M"
                    else f"{first} {FIRST_NAMES_F[index % 7]}",
                    sex=sex,
                    birth_date=birth,
                    birth_place_code="86194",
                    ins_number=ins,
                    ins_oid=INS_OID_NIR_DEMO if ins else "",
                    identity_status=(
                        Patient.IdentityStatus.QUALIFIED
                        if qualified
                        else Patient.IdentityStatus.PROVISIONAL
                    ),
                    gp_name=gp_name,
                    gp_rpps=gp_rpps,
                )
            )
    counts["patients"] = len(patients)

    def register(
        session: Session,
        patient: Patient,
        *,
        complete_at: dt.datetime | None,
        registered_at: dt.datetime,
    ) -> Registration:
        code, label = SITES[rng.randrange(len(SITES))]
        with clock.as_of(registered_at):
            registration = actions.register_patient(
                by=registrar,
                session=session,
                patient=patient,
                reason="Bilan initial, décision thérapeutique.",
                cim10_code=code,
                cim10_label=label,
                histology="Adénocarcinome (données fictives)",
                tnm=rng.choice(["T1N0M0", "T2N1M0", "T3N0M0", "T2N0M1"]),
                oms_status=rng.randrange(3),
                history="Aucun antécédent notable (fictif).",
                question="Quelle stratégie thérapeutique proposer ?",
            )
        if complete_at is not None:
            with clock.as_of(complete_at):
                actions.complete_prefiche(by=registrar, registration=registration)
        counts["registrations"] += 1
        return registration

    def hold_and_decide(registration: Registration, *, with_pps: bool) -> None:
        session = registration.session
        # Nothing dated after "now": the GP's feed is newest first.
        after = min(session.starts_at + dt.timedelta(hours=2), now)
        with clock.as_of(after):
            compte_rendu = actions.validate_compte_rendu(
                by=participants[0][0],
                registration=registration,
                case_status="discussed",
                proposal="Chirurgie première puis chimiothérapie adjuvante (proposition fictive).",
                attendees=[(u, s) for u, s in participants[:4]],
            )
        counts["compte_rendus"] += 1
        if with_pps:
            with clock.as_of(min(after + dt.timedelta(days=3), now)):
                actions.generate_pps(
                    by=participants[0][0],
                    compte_rendu=compte_rendu,
                    doctor_name="BENANDFICTIF Philippe",
                    establishment_name=establishments[0].name,
                    content="Programme personnalisé de soins (données fictives).",
                )
            counts["pps"] += 1

    # The demo GP's patients cover every case the portal shows ---------------------------
    demo_patients = [p for p in patients if p.gp_rpps == DEMO_GP_RPPS]
    sub = renaten.territory.holiday_subdivision
    # A session soon enough that today is on/after its notification day.
    soon = today + dt.timedelta(days=1)
    while not (is_business_day(soon, sub) and notification_day(soon, sub) < today):
        soon += dt.timedelta(days=1)
    with clock.as_of(now - dt.timedelta(days=30)):
        soon_session = actions.schedule_session(
            by=secretary, board=renaten, date=soon, time=dt.time(14, 30)
        )
    n_soon = notification_day(soon, sub)
    # 1. upcoming, opted-in board with webconference, complete in time → notified.
    register(
        soon_session,
        demo_patients[0],
        registered_at=_aware(n_soon, 9) - dt.timedelta(days=7),
        complete_at=_aware(n_soon, 9) - dt.timedelta(days=6),
    )
    # 2. registered too late (pre-fiche completed after the notification day).
    register(
        soon_session,
        demo_patients[1],
        registered_at=now - dt.timedelta(hours=3),
        complete_at=now - dt.timedelta(hours=2),
    )
    # 3. upcoming on a later RENATEN session: notification pending.
    later = next(
        s
        for s in sessions
        if s.board_id == renaten.pk and notification_day(s.date, sub) > today + dt.timedelta(days=3)
    )
    register(
        later,
        demo_patients[2],
        registered_at=now - dt.timedelta(days=2),
        complete_at=now - dt.timedelta(days=1),
    )
    # 4. upcoming on a board without the opt-in.
    no_optin_next = next(
        s
        for s in sessions
        if s.board_id == no_optin_board.pk and s.date > today + dt.timedelta(days=3)
    )
    register(
        no_optin_next,
        demo_patients[3],
        registered_at=now - dt.timedelta(days=2),
        complete_at=now - dt.timedelta(days=1),
    )
    # 5. past, with a validated compte-rendu and a PPS.
    past_renaten = [
        s for s in sessions if s.board_id == renaten.pk and s.date < today - dt.timedelta(days=7)
    ]
    past_reg = register(
        past_renaten[0],
        demo_patients[4],
        registered_at=past_renaten[0].starts_at - dt.timedelta(days=10),
        complete_at=past_renaten[0].starts_at - dt.timedelta(days=8),
    )
    hold_and_decide(past_reg, with_pps=True)

    # Everyone else: registrations in every state ----------------------------------------
    others = [p for p in patients if p not in demo_patients[:5]]
    rng.shuffle(others)
    live_sessions = list(
        Session.objects.filter(status=Session.Status.PLANNED)
        .select_related("board__territory")
        .order_by("date", "board_id")
    )
    for index, patient in enumerate(others[:260]):
        session = live_sessions[index % len(live_sessions)]
        board_sub = session.board.territory.holiday_subdivision
        n_day = notification_day(session.date, board_sub)
        kind = index % 10
        if session.starts_at <= now:  # past session
            registration = register(
                session,
                patient,
                registered_at=session.starts_at - dt.timedelta(days=12),
                complete_at=session.starts_at - dt.timedelta(days=9),
            )
            if kind != 9:
                hold_and_decide(registration, with_pps=kind < 4)
            continue
        early = min(now, _aware(n_day, 9)) - dt.timedelta(days=5)
        if kind == 0:  # incomplete pre-fiche
            register(session, patient, registered_at=early, complete_at=None)
        elif kind == 1:  # withdrawn
            registration = register(session, patient, registered_at=early, complete_at=early)
            with clock.as_of(early + dt.timedelta(hours=1)):
                actions.withdraw_registration(by=registrar, registration=registration)
            counts["withdrawn"] += 1
        elif kind == 2 and n_day < today:  # completed after the notification day
            register(
                session,
                patient,
                registered_at=now - dt.timedelta(hours=5),
                complete_at=now - dt.timedelta(hours=4),
            )
        else:
            register(session, patient, registered_at=early, complete_at=early)

    # Past sessions were held.
    for session in Session.objects.filter(status=Session.Status.PLANNED, starts_at__lte=now):
        with clock.as_of(min(session.starts_at + dt.timedelta(hours=3), now)):
            actions.mark_session_held(by=secretary, session=session)
    return report
