"""A killed import leaves the previous directory whole and readable (issue 4).

Runs the real command in a child process against its own database (a scratch
PostgreSQL database, or a SQLite file), kills it with SIGKILL midway, and reads the
directory back.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from concerto.directory.sample import write_sample

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _pg_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[tuple[dict[str, str], Callable[[], Any]]]:
    """Environment for a child ``concerto`` and a connect() to the same database."""
    env = dict(os.environ, CONCERTO_DATA_DIR=str(tmp_path / "data"), CONCERTO_MODE="demo")
    env.pop("DATABASE_URL", None)
    name = f"concerto_directory_crash_{os.getpid()}"
    if ON_POSTGRES:
        admin_url = _pg_url("postgres")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = _pg_url(name)

        def connect() -> Any:
            return psycopg.connect(env["DATABASE_URL"], autocommit=True)

    else:

        def connect() -> Any:
            return sqlite3.connect(tmp_path / "data" / "concerto.sqlite3")

    concerto(env, "migrate", "-v0")
    yield env, connect
    if ON_POSTGRES:
        with psycopg.connect(_pg_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def concerto(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "concerto", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def state(connect: Callable[[], Any]) -> dict[str, Any]:
    conn = connect()
    try:
        cursor = conn.cursor()
        result = {}
        for table, columns in (
            ("directory_professional", "rpps, last_name, first_name"),
            ("directory_activity", "rpps, structure_name, city"),
            ("directory_mssanteaddress", "address, kind, rpps"),
        ):
            cursor.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2, 3")  # noqa: S608
            result[table] = [tuple(row) for row in cursor.fetchall()]
        return result
    finally:
        conn.close()


def start_import(env: dict[str, str], *paths: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "concerto", "import-directory", *map(str, paths)]
        + ["--progress-every", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(process: subprocess.Popen[str], marker: str) -> list[str]:
    seen = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError("l'import s'est terminé avant le signal :\n" + "".join(seen))


def test_killed_import_leaves_the_previous_directory(scratch, tmp_path):
    env, connect = scratch
    old = write_sample(tmp_path / "v1", professionals=300, seed=3)
    concerto(env, "import-directory", str(old.activity_path), str(old.mssante_path))
    before = state(connect)
    assert len(before["directory_professional"]) > 250
    new = write_sample(tmp_path / "v2", professionals=12000, seed=4)

    if ON_POSTGRES:
        # Hold a lock the import's last step needs: it rewrites professionals and
        # activities, then waits on the mailboxes — killed there, mid-apply.
        blocker = connect()
        blocker.autocommit = False
        blocker.execute("LOCK TABLE directory_mssanteaddress IN SHARE MODE")
        process = start_import(env, new.activity_path, new.mssante_path)
        seen = "".join(wait_for(process, "Activités :"))
        # The new professionals were written (not committed) before the kill.
        added = re.search(r"Professionnels : (\d+) ajout", seen)
        assert added and int(added.group(1)) > 11000, seen
        # Meanwhile the directory is still readable and still the old one.
        assert state(connect) == before
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        blocker.rollback()
        blocker.close()
        _wait_backend_gone(connect)
    else:
        # SQLite: killed while streaming the activity file inside the transaction.
        process = start_import(env, new.mssante_path, new.activity_path)
        wait_for(process, "PS_LibreAcces_Personne_activite_202611270300.txt (fichier activités")
        wait_for(process, "lignes/s")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    assert process.returncode == -signal.SIGKILL
    assert state(connect) == before
    # And the next import works (no lock or staging table left behind).
    output = concerto(env, "import-directory", str(new.activity_path), str(new.mssante_path))
    assert "Import de l'annuaire terminé" in output
    assert len(state(connect)["directory_professional"]) > 11000


def _wait_backend_gone(connect: Callable[[], Any]) -> None:
    """The killed client's server process rolls back once it notices; wait for it."""
    conn = connect()
    try:
        for _ in range(300):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            if row[0] == 0:
                return
            time.sleep(0.1)
        raise AssertionError("le processus serveur de l'import tué est toujours là")
    finally:
        conn.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: the first import's two readers")
def test_killed_first_import_leaves_an_empty_directory_and_its_side_table_goes(scratch, tmp_path):
    """A first import large enough for two readers and the second connection (ADR 0006),
    killed once that connection has committed its side table: the directory stays empty,
    and the next import drops the side table and loads the directory."""
    env, connect = scratch
    sample = write_sample(tmp_path / "big", professionals=100_000, seed=5)
    assert sample.activity_path.stat().st_size >= 64 << 20  # (PARALLEL_MIN_BYTES)
    before = state(connect)
    blocker = connect()
    blocker.autocommit = False
    # The mailboxes come last: held there, the import waits while its second connection
    # loads the professionals, indexes them and commits its table.
    blocker.execute("LOCK TABLE directory_mssanteaddress IN SHARE MODE")
    process = start_import(env, sample.activity_path, sample.mssante_path)
    wait_for(process, "seconde connexion")
    wait_for(process, "Activités :")
    with connect() as watcher:
        for _ in range(600):
            side_indexes = _count(watcher, "pg_indexes", "tablename")
            if side_indexes == 4:  # id, RPPS (unique), name, trigram: committed
                break
            time.sleep(0.1)
    assert side_indexes == 4
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    blocker.rollback()
    blocker.close()
    _wait_backend_gone(connect)

    assert process.returncode == -signal.SIGKILL
    assert state(connect) == before  # empty, as it was
    with connect() as conn:
        # The side table, left behind: with its sequence and its 4 indexes.
        assert _count(conn, "pg_class", "relname") == 6
    output = concerto(env, "import-directory", str(sample.activity_path), str(sample.mssante_path))
    assert "Import de l'annuaire terminé" in output
    assert len(state(connect)["directory_professional"]) > 90_000
    with connect() as conn:
        assert _count(conn, "pg_class", "relname") == 0


def _count(conn: Any, catalog: str, column: str) -> int:
    """How many side-table objects (the table, or its indexes) ``catalog`` lists."""
    sql = f"SELECT count(*) FROM {catalog} WHERE {column} LIKE 'dir_side_professional%'"  # noqa: S608
    return int(conn.execute(sql).fetchone()[0])
