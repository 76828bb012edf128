"""Load benchmark of the GP portal (issue 6), bounded in time, loopback only.

    DATABASE_URL is not used: the bench makes (and drops) its own PostgreSQL database,
    BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/concerto_portal_bench).

    /work/main/.venv/bin/python bench/portal_load.py [--duration 60] [--quick]

What it does, all in one run so every figure has its baseline next to it:

1. seeds ≥ 50 GPs, one of them with ≥ 1,000 news lines, through the real actions;
2. serves Concerto with gunicorn (the production server) on 127.0.0.1, PostgreSQL;
3. (a) locust, 50 users thinking 1–3 s, dashboard + pre-fiche: p50/p95, error rate
   (without locust on PATH or $LOCUST: the same closed loop with threads);
   (b) wrk, 4 connections: requests/s of the dashboard vs the one-query /sante/ view
   (anonymous, and with the GP's session cookie);
   (c) a closed loop (4 threads) on the dashboard and pre-fiche with the access trail
   on, then off (a second gunicorn whose workers no-op the trail): p95 ratio.

Goals from the issue: p95 < 50 ms and 0 errors; dashboard ≥ 0.5 × trivial view;
trail on ≤ 1.2 × off. The script prints the figures and whether each goal is met.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/concerto_portal_bench"
)
N_GPS = 50
MAIN_GP_PAST = 260  # × 3 lines (A venir, compte-rendu, PPS)
MAIN_GP_UPCOMING = 260
OTHER_GP_REGISTRATIONS = 6
MAIN_GP_PATIENTS = 100  # the main GP's patients, each presented several times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


# --- Database and data ----------------------------------------------------------------


def recreate_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    admin_url = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    admin_url = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(scale: float) -> dict[str, object]:
    """Seed through the real actions; return the GPs' session cookies and registrations."""
    import datetime as dt

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from stdnum import luhn

    from concerto.accounts.models import User
    from concerto.lib import clock
    from concerto.patients import actions as patient_actions
    from concerto.rcp import actions, rules
    from concerto.rcp.models import BoardMembership, NewsItem, Registration, Territory

    now = clock.now()
    today = now.date()
    password = make_password("bench-password-123")

    def user(username: str, **extra: object) -> User:
        u = User(username=username, password=password, first_name="Bench", **extra)
        u.save()
        return u

    secretary = user("bench-secretaire", last_name="SECRETAIREBENCH", is_staff=True)
    registrar = user("bench-inscripteur", last_name="INSCRIPTEURBENCH", is_registrar=True)
    participants = [
        (user(f"bench-{i}", last_name=f"PARTICIPANTBENCH{i}", specialty=s), s)
        for i, s in enumerate(rules.CORE_SPECIALTIES)
    ]
    territory = Territory.objects.create(slug="bench", name="Territoire de bench")
    with clock.as_of(now - dt.timedelta(days=200)):
        board = actions.create_board(
            by=secretary,
            territory=territory,
            title="Tumeurs rares neuroendocrines BENCH",
            specialty="Neuroendocrine",
            webconference_url="https://visio.exemple.test/bench",
            webconference_code="134679",
        )
        for member, spec in participants:
            actions.add_member(
                by=secretary,
                board=board,
                user=member,
                role=BoardMembership.Role.PARTICIPANT,
                specialty=spec,
            )
        past_sessions = [
            actions.schedule_session(
                by=secretary,
                board=board,
                date=today - dt.timedelta(days=7 * (k + 1)),
                time=dt.time(14, 0),
            )
            for k in range(12)
        ]
        future_sessions = [
            actions.schedule_session(
                by=secretary,
                board=board,
                date=today + dt.timedelta(days=7 * (k + 1)),
                time=dt.time(14, 0),
            )
            for k in range(12)
        ]

    gps = []
    for i in range(N_GPS):
        base = f"197{i:07d}"
        gps.append(
            user(
                f"bench-gp-{i:02d}",
                last_name=f"GENERALISTEBENCH{i:02d}",
                rpps=base + luhn.calc_check_digit(base),
                specialty="Médecine Générale",
            )
        )

    n_past = int(MAIN_GP_PAST * scale)
    n_upcoming = int(MAIN_GP_UPCOMING * scale)
    registrations: dict[str, list[int]] = {}
    seq = 0

    def patient_for(gp: User) -> object:
        nonlocal seq
        seq += 1
        return patient_actions.create_patient(
            by=registrar,
            birth_name=f"FICTIFBENCH{seq:05d}",
            first_names="DENIS JEAN",
            sex="M" if seq % 2 else "F",
            birth_date=dt.date(1944, 1 + seq % 12, 1 + seq % 28),
            birth_place_code="86194",
            gp_rpps=gp.rpps,
            gp_name=f"Dr {gp.last_name}",
        )

    prefiche = {
        "reason": "Bilan initial (fictif).",
        "cim10_code": "C04.0",
        "cim10_label": "Tumeur maligne du plancher antérieur de la bouche",
        "histology": "Carcinome épidermoïde (fictif)",
        "tnm": "T2N0M0",
        "oms_status": 1,
        "history": "Aucun antécédent notable (fictif).",
        "question": "Quelle stratégie thérapeutique proposer ?",
    }
    started = time.monotonic()
    main_pool = [patient_for(gps[0]) for _ in range(int(MAIN_GP_PATIENTS * max(scale, 0.2)))]

    def main_patient(k: int) -> object:
        # Registration k of the main GP: patient k mod pool on session k div pool, so a
        # patient is never twice on one session.
        return main_pool[k % len(main_pool)]

    for index, gp in enumerate(gps):
        ids: list[int] = []
        main = index == 0
        past_count = n_past if main else OTHER_GP_REGISTRATIONS // 2
        upcoming_count = n_upcoming if main else OTHER_GP_REGISTRATIONS - past_count
        for k in range(past_count):
            session = past_sessions[k // len(main_pool) if main else k]
            patient = main_patient(k) if main else patient_for(gp)
            with clock.as_of(session.starts_at - dt.timedelta(days=10)):
                reg = actions.register_patient(
                    by=registrar, session=session, patient=patient, **prefiche
                )
                actions.complete_prefiche(by=registrar, registration=reg)
            with clock.as_of(session.starts_at + dt.timedelta(hours=2)):
                cr = actions.validate_compte_rendu(
                    by=participants[0][0],
                    registration=reg,
                    case_status="discussed",
                    proposal="Chirurgie puis surveillance (proposition fictive).",
                    attendees=participants,
                )
                actions.generate_pps(
                    by=participants[0][0],
                    compte_rendu=cr,
                    doctor_name="BENANDFICTIF Philippe",
                    establishment_name="Polyclinique Imaginaire",
                    content="Programme personnalisé de soins (fictif).",
                )
            ids.append(reg.pk)
        for k in range(upcoming_count):
            session = future_sessions[k // len(main_pool) if main else k]
            patient = main_patient(k) if main else patient_for(gp)
            reg = actions.register_patient(
                by=registrar, session=session, patient=patient, **prefiche
            )
            actions.complete_prefiche(by=registrar, registration=reg)
            ids.append(reg.pk)
        registrations[gp.username] = ids
    seeded_in = time.monotonic() - started

    sessions = {}
    for gp in gps:
        store = SessionStore()
        store[SESSION_KEY] = str(gp.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = gp.get_session_auth_hash()
        store.create()
        sessions[gp.username] = store.session_key
    main_lines = NewsItem.objects.filter(patient__gp_rpps=gps[0].rpps).count()
    # Statistics as autovacuum would have them on a live database a minute later.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "users": [
            {"session": sessions[gp.username], "registrations": registrations[gp.username]}
            for gp in gps
        ],
        "main_gp_lines": main_lines,
        "gps": len(gps),
        "registrations": Registration.objects.count(),
        "seeded_in_s": round(seeded_in, 1),
    }


# --- Servers ----------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict[str, str], *, trail: bool, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = "concerto.wsgi:application" if trail else "wsgi_trail_off:application"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--pythonpath",
                str(BENCH_DIR),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/sante/", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- Load generators ----------------------------------------------------------------------


def get(url: str, session: str | None) -> tuple[float, bool]:
    request = urllib.request.Request(url)  # noqa: S310
    if session:
        request.add_header("Cookie", f"sessionid={session}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
            ok = response.status == 200 and response.url == url
    except (urllib.error.URLError, OSError):
        ok = False
    return (time.perf_counter() - started) * 1000, ok


def closed_loop_raw(
    base: str,
    users: list[dict],
    *,
    threads: int,
    duration: float,
    think: tuple[float, float] | None,
    main_only: bool = False,
) -> dict[str, list[tuple[float, bool]]]:
    """``threads`` users, each: request, think (or not), repeat, for ``duration`` s."""
    results: dict[str, list[tuple[float, bool]]] = {"dashboard": [], "prefiche": []}
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def run(index: int) -> None:
        rng = random.Random(index)  # noqa: S311
        user = users[0] if main_only else users[index % len(users)]
        while time.monotonic() < stop_at:
            if rng.random() < 0.6:
                name, url = "dashboard", f"{base}/portail/"
            else:
                reg = rng.choice(user["registrations"])
                name, url = "prefiche", f"{base}/portail/inscription/{reg}/"
            sample = get(url, user["session"])
            with lock:
                results[name].append(sample)
            if think:
                time.sleep(rng.uniform(*think))

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(duration + 30)
    return results


def summarize(results: dict[str, list[tuple[float, bool]]]) -> dict[str, dict[str, float]]:
    summary = {}
    everything = [s for samples in results.values() for s in samples]
    for name, samples in list(results.items()) + [("all", everything)]:
        times = [t for t, _ in samples]
        summary[name] = {
            "requests": len(samples),
            "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "errors": sum(1 for _, ok in samples if not ok),
        }
    return summary


def closed_loop(base: str, users: list[dict], **kwargs: object) -> dict[str, dict[str, float]]:
    return summarize(closed_loop_raw(base, users, **kwargs))  # type: ignore[arg-type]


def locust_binary() -> str | None:
    return os.environ.get("LOCUST") or shutil.which("locust")


def run_locust(binary: str, base: str, data_file: Path, duration: int, out: Path) -> dict:
    env = dict(os.environ, BENCH_DATA=str(data_file))
    prefix = out / "locust"
    subprocess.run(  # noqa: S603
        [
            binary,
            "-f",
            str(BENCH_DIR / "locustfile_portal.py"),
            "--headless",
            "-u",
            "50",
            "-r",
            "25",
            "-t",
            f"{duration}s",
            "--host",
            base,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        timeout=duration + 60,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    rows = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "errors": int(row["Failure Count"]),
            }
    return rows


def run_wrk(url: str, session: str | None, duration: int) -> float | None:
    if not shutil.which("wrk"):
        return None
    args = ["wrk", "-t", "2", "-c", "4", "-d", f"{duration}s", "--latency"]
    if session:
        args += ["-H", f"Cookie: sessionid={session}"]
    output = subprocess.run(  # noqa: S603
        args + [url], capture_output=True, text=True, timeout=duration + 30, check=False
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        print(f"   wrk: {non2xx.group(1)} non-2xx responses on {url}")
    return float(match.group(1)) if match else None


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per locust phase")
    parser.add_argument("--quick", action="store_true", help="small data, short phases")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    phase = 10 if args.quick else args.duration
    short = max(5, phase // 3)

    workdir = Path(tempfile.mkdtemp(prefix="concerto-bench-"))
    (workdir / "static").mkdir()
    env = dict(
        os.environ,
        DATABASE_URL=DB_URL,
        CONCERTO_MODE="demo",
        CONCERTO_DATA_DIR=str(workdir),
        CONN_MAX_AGE="60",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="concerto.settings",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    print(
        f"== Concerto portal benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPU)"
    )
    recreate_database()
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "concerto", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    data = seed(scale)
    data_file = workdir / "bench-data.json"
    data_file.write_text(json.dumps(data["users"]))
    users: list[dict] = data["users"]  # type: ignore[assignment]
    print(
        f"data: {data['gps']} GPs, {data['registrations']} registrations, main GP "
        f"{data['main_gp_lines']} news lines (seeded in {data['seeded_in_s']} s)"
    )
    main_session = users[0]["session"]
    report: dict[str, object] = {}
    try:
        server = Server(env, trail=True, workers=args.workers)
        try:
            # warm up
            closed_loop(server.url, users, threads=4, duration=3, think=None)
            binary = locust_binary()
            if binary:
                print(f"(a) locust, 50 users, think 1-3 s, {phase} s …")
                report["locust"] = run_locust(binary, server.url, data_file, phase, workdir)
            else:
                print(f"(a) locust not found: closed loop, 50 threads, think 1-3 s, {phase} s …")
                report["locust"] = closed_loop(
                    server.url, users, threads=50, duration=phase, think=(1.0, 3.0)
                )
            # (b) The dashboard against /sante/ (one query, anonymous: no session), and
            # against /sante/ with the GP's session cookie: the same middleware then loads
            # the session and the user, as for the dashboard, so that ratio isolates the
            # dashboard's own work. Two rounds in alternated order, rates averaged.
            print(f"(b) wrk, 4 connections, 2 × {short // 2} s each …")
            targets = {
                "wrk_dashboard": (f"{server.url}/portail/", main_session),
                "wrk_trivial": (f"{server.url}/sante/", None),
                "wrk_trivial_session": (f"{server.url}/sante/", main_session),
            }
            rates: dict[str, list[float]] = {name: [] for name in targets}
            for index in range(2):
                names = list(targets) if index == 0 else list(reversed(targets))
                for name in names:
                    rate = run_wrk(*targets[name], max(1, short // 2))
                    if rate is not None:
                        rates[name].append(rate)
            for name, got in rates.items():
                report[name] = sum(got) / len(got) if got else None
            # (c) Trail on vs off: both servers up, short rounds alternated, so the
            # background load of the machine weighs on both alike.
            other = Server(env, trail=False, workers=args.workers)
            try:
                closed_loop(other.url, users, threads=4, duration=3, think=None)
                rounds = 6
                print(
                    f"(c) access trail on/off: closed loop, 4 threads, {rounds} × 2 × "
                    f"{short * 2 / rounds:.0f} s alternated …"
                )
                raw: dict[str, dict[str, list[tuple[float, bool]]]] = {
                    "on": {"dashboard": [], "prefiche": []},
                    "off": {"dashboard": [], "prefiche": []},
                }
                for index in range(rounds):
                    order = [("on", server), ("off", other)]
                    for label, target in order if index % 2 == 0 else reversed(order):
                        got = closed_loop_raw(
                            target.url,
                            users,
                            threads=4,
                            duration=short * 2 / rounds,
                            think=None,
                            main_only=True,
                        )
                        for name, samples in got.items():
                            raw[label][name].extend(samples)
                report["trail_on"] = summarize(raw["on"])
                report["trail_off"] = summarize(raw["off"])
            finally:
                other.stop()
        finally:
            server.stop()
    finally:
        if not args.keep_db:
            drop_database()
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n== Results")
    locust = report["locust"]
    assert isinstance(locust, dict)
    for name, row in locust.items():
        rate = 100 * row["errors"] / max(1, row["requests"])
        print(
            f"(a) {name:>12}: {row['requests']:6d} req, p50 {row['p50_ms']:6.1f} ms, "
            f"p95 {row['p95_ms']:6.1f} ms, errors {row['errors']} ({rate:.2f} %)"
        )
    agg = locust.get("Aggregated") or locust.get("all")
    if agg:
        print(
            f"    goal p95 < 50 ms and 0 errors: "
            f"{'met' if agg['p95_ms'] < 50 and agg['errors'] == 0 else 'NOT met'}"
        )
    dash, trivial = report["wrk_dashboard"], report["wrk_trivial"]
    if isinstance(dash, float) and isinstance(trivial, float):
        ratio = dash / trivial
        print(
            f"(b) wrk: dashboard ({data['main_gp_lines']} lines, page 1) {dash:.0f} req/s, "
            f"/sante/ {trivial:.0f} req/s, ratio {ratio:.2f} (goal ≥ 0.5: "
            f"{'met' if ratio >= 0.5 else 'NOT met'})"
        )
        with_session = report["wrk_trivial_session"]
        if isinstance(with_session, float):
            print(
                f"    /sante/ with the GP's session cookie (session and user loaded, as for "
                f"the dashboard) {with_session:.0f} req/s: dashboard ratio "
                f"{dash / with_session:.2f}"
            )
    else:
        print("(b) wrk not available (apt-get install wrk)")
    on, off = report["trail_on"], report["trail_off"]
    assert isinstance(on, dict) and isinstance(off, dict)
    for name in ("dashboard", "prefiche", "all"):
        ratio = on[name]["p95_ms"] / off[name]["p95_ms"]
        print(
            f"(c) {name:>9}: p95 trail on {on[name]['p95_ms']:.1f} ms "
            f"({on[name]['requests']} req), off {off[name]['p95_ms']:.1f} ms "
            f"({off[name]['requests']} req), ratio {ratio:.2f}"
            + (f" (goal ≤ 1.2: {'met' if ratio <= 1.2 else 'NOT met'})" if name == "all" else "")
        )
    errors = on["all"]["errors"] + off["all"]["errors"]
    print(f"    errors in (c): {errors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
