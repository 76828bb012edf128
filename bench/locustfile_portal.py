"""Locust scenario of bench/portal_load.py: GPs reading their dashboard and pre-fiches,
thinking 1–3 s between requests. Sessions come from $BENCH_DATA (written by the bench)."""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import HttpUser, between, task

USERS = json.loads(open(os.environ["BENCH_DATA"], encoding="utf-8").read())  # noqa: SIM115
_next = itertools.count()


class GP(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.data = USERS[next(_next) % len(USERS)]
        self.client.cookies.set("sessionid", self.data["session"])

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

    @task(3)
    def dashboard(self) -> None:
        self._get("/portail/", "dashboard")

    @task(2)
    def prefiche(self) -> None:
        registration = random.choice(self.data["registrations"])  # noqa: S311
        self._get(f"/portail/inscription/{registration}/", "prefiche")
