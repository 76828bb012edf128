"""Every page a demo account can reach by following links answers, in French words.

Each account of the demo region starts at the home page and follows the site's own links
(GET only, breadth first). Every page must answer 200 (or a redirect to another page of
the site), never 404 or 500, and show no Django default a user cannot read: the blank
choice "---------" of a select, or a Python ``None``.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from concerto import demo
from concerto.accounts.models import User
from concerto.patients.models import Patient
from tests.builders import paris

pytestmark = pytest.mark.django_db

ACCOUNTS = [
    "demo-medecin",
    "demo-secretaire",
    "demo-inscripteur",
    "demo-oncologue",
    "demo-admin",
]
# Not followed: the logout (a form), Django's admin (its own vocabulary), files.
SKIPPED = re.compile(r"^/(admin/|deconnexion/|static/)|\.(pdf|csv)$|/(telecharger|pdf|csv)/?$")
HREF = re.compile(r'href="([^"#][^"]*)"')
# Enough for every kind of page of each account; the walk stops there.
MAX_PAGES = 120


def walk(client: Client, starts: tuple[str, ...] = ("/",)) -> dict[str, str]:
    """The pages reached from ``starts`` (the home page): path → HTML."""
    seen: dict[str, str] = {}
    queue = deque(starts)
    queued = set(starts)
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path, follow=True)
        assert response.status_code == 200, (path, response.status_code)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode()
        seen[path] = html
        for href in HREF.findall(html):
            target = urldefrag(href.replace("&amp;", "&"))[0]
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not target.startswith("/"):
                continue
            if SKIPPED.search(parts.path) or target in queued:
                continue
            queued.add(target)
            queue.append(target)
    return seen


def starts_for(username: str) -> tuple[str, ...]:
    """The home page, and for the registrar the forms reached only through the patient
    search (a POST): a new patient's, and a registration's."""
    if username != "demo-inscripteur":
        return ("/",)
    patient = Patient.objects.order_by("pk").first()
    assert patient is not None
    return (
        "/",
        reverse("rcp:patient-create"),
        reverse("rcp:register", args=[patient.pk]),
    )


@pytest.mark.parametrize("username", ACCOUNTS)
def test_every_linked_page_answers_in_words(username: str) -> None:
    demo.seed_demo(now=paris(2026, 11, 27, 10))
    client = Client()
    client.force_login(User.objects.get(username=username))
    pages = walk(client, starts_for(username))
    if username == "demo-inscripteur":  # the selects' blanks, in words
        assert '<option value="" selected>Choisir</option>' in pages[reverse("rcp:patient-create")]
        register = reverse("rcp:register", args=[Patient.objects.order_by("pk")[0].pk])
        assert '<option value="" selected>Choisir une séance</option>' in pages[register]
        assert '<option value="" selected>Non renseigné</option>' in pages[register]
    print(f"\n[walk] {username}: {len(pages)} pages")
    assert len(pages) >= 3
    blank_choice = sorted(path for path, html in pages.items() if "---------" in html)
    assert blank_choice == []
    none_shown = sorted(
        path for path, html in pages.items() if re.search(r">\s*None\s*<|\bNone\b</", html)
    )
    assert none_shown == []
