"""At 320 CSS pixels wide (a phone, or 1280 px zoomed to 400 %), no page of the demo
scrolls sideways (WCAG 1.4.10, RGAA 10.11): each kind of page each demo account reaches
by its links, in Debian's Chromium. A data table may scroll within its own frame. Each
page is also checked by axe-core at that width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from concerto import demo
from concerto.accounts.models import User
from tests.portal.test_portal_browser import CHROMIUM, OVERFLOW, axe_violations, chromium_page
from tests.test_demo_walk import starts_for, walk

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]

ACCOUNTS = ["demo-medecin", "demo-secretaire", "demo-inscripteur", "demo-oncologue"]


def kinds_of_pages(paths: list[str]) -> list[str]:
    """One path per kind of page (its numbers and query aside)."""
    chosen: dict[str, str] = {}
    for path in paths:
        chosen.setdefault(re.sub(r"\d+", "N", path.split("?")[0]), path)
    return sorted(chosen.values())


def test_no_page_scrolls_sideways_at_320_css_pixels(
    live_server: object, transactional_db: None
) -> None:
    demo.seed_demo(now=timezone.now())
    plan: dict[str, tuple[dict[str, str], list[str]]] = {}
    for username in ACCOUNTS:
        client = Client()
        client.force_login(User.objects.get(username=username))
        cookie = {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": live_server.url,  # type: ignore[attr-defined]
        }
        plan[username] = (cookie, kinds_of_pages(list(walk(client, starts_for(username)))))
    overflows: dict[str, object] = {}
    audits: dict[str, list[str]] = {}
    checked = 0
    with chromium_page() as page:
        page.set_viewport_size({"width": 320, "height": 800})
        for username, (cookie, paths) in plan.items():
            page.context.clear_cookies()
            page.context.add_cookies([cookie])  # type: ignore[list-item]
            for path in paths:
                page.goto(live_server.url + path)  # type: ignore[attr-defined]
                checked += 1
                found = page.evaluate(OVERFLOW)
                violations = axe_violations(page)
                if violations:
                    audits[f"{username} {path}"] = [v["id"] for v in violations]
                if found:
                    overflows[f"{username} {path}"] = found
                    name = re.sub(r"\W+", "-", f"{username}{path}").strip("-")
                    page.screenshot(
                        path=str(Path(__file__).parents[1] / "test-artifacts" / f"{name}.png")
                    )
    print(f"\n[reflow 320 px] {checked} pages, {len(overflows)} scroll sideways")
    for where, found in overflows.items():
        print(f"  {where}: {found}")
    print(f"[axe at 320 px] moderate/serious/critical violations: {audits}")
    assert checked >= 20
    assert overflows == {}
    assert audits == {}
