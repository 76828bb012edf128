"""The session's time-out told before it ends (WCAG 2.2.1, RGAA 13.1), in Debian's
Chromium: the warning, "Rester connecté", typing as presence, and the end said."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from tests import builders
from tests.portal.test_portal_browser import CHROMIUM, axe_violations, chromium_page, session_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]

IDLE, LEAD = 10, 6  # seconds: the warning 4 s after a page or a keep-alive


@pytest.fixture(autouse=True)
def short_time_outs(settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT, settings.SESSION_WARNING_LEAD = IDLE, LEAD


def login_cookie(user: Any, live_server: Any) -> dict[str, str]:
    """The browser cookie of a session of ``user`` on the live server."""
    return {
        "name": django_settings.SESSION_COOKIE_NAME,
        "value": session_for(user),
        "url": live_server.url,
    }


def test_the_time_out_is_told_and_can_be_pushed_back(
    live_server: Any, transactional_db: None
) -> None:
    registrar = builders.user(username="inscripteur-minute", is_registrar=True)
    cookie = login_cookie(registrar, live_server)
    page_url = live_server.url + reverse("rcp:patient-search")
    with chromium_page() as page:
        page.context.add_cookies([cookie])
        loaded = time.monotonic()
        page.goto(page_url)
        box = page.locator("#session-limite")
        assert box.inner_text() == ""  # (nothing to say yet)
        box.get_by_role("button", name="Rester connecté").wait_for(timeout=8000)
        assert re.search(
            r"Sans activité de votre part, votre session se terminera à \d\d:\d\d", box.inner_text()
        )
        warned = axe_violations(page)
        # Typing in a form is being there: the idle clock starts again, the warning goes.
        # (Typing is told at most every LEAD / 4 seconds.)
        time.sleep(max(0.0, loaded + LEAD / 4 + 0.5 - time.monotonic()))
        with page.expect_request(lambda r: r.url.endswith(reverse("keep_alive"))):
            page.locator("main input[type=text], main input[type=search]").first.fill("DUPONT")
        box.get_by_role("button").wait_for(state="detached", timeout=3000)
        # The warning again, then "Rester connecté".
        box.get_by_role("button", name="Rester connecté").click(timeout=8000)
        box.get_by_role("button").wait_for(state="detached", timeout=3000)
        # Past the first page's idle time-out: still connected (the keep-alives moved it).
        time.sleep(max(0.0, loaded + IDLE + 1 - time.monotonic()))
        response = page.goto(page_url)
        assert response is not None and response.status == 200
        assert page.url == page_url
        # Left alone: the end is said, with a way to log in again.
        page.locator("#session-limite a").wait_for(timeout=(IDLE + 3) * 1000)
        assert "Votre session a pris fin" in box.inner_text()
        assert page.locator("#session-limite a").get_attribute("target") == "_blank"
        # The server agrees (the page is told whole seconds, rounded down: it may say so
        # up to a second early, never late).
        time.sleep(1.5)
        response = page.goto(page_url)
        assert page.url.startswith(live_server.url + django_settings.LOGIN_URL)
    assert warned == []


def test_the_back_office_page_warns_too(live_server: Any, transactional_db: None) -> None:
    secretary = builders.user(username="secretaire-minute", is_staff=True)
    cookie = login_cookie(secretary, live_server)
    with chromium_page() as page:
        page.context.add_cookies([cookie])
        page.goto(live_server.url + reverse("admin:index"))
        box = page.locator("#session-limite")
        box.get_by_role("button", name="Rester connecté").click(timeout=8000)
        box.get_by_role("button").wait_for(state="detached", timeout=3000)
        assert box.evaluate("e => getComputedStyle(e).position") == "static"  # (empty)
        csp_errors = list(page.csp_errors)  # type: ignore[attr-defined]
    assert csp_errors == []


def test_staying_connected_in_one_tab_is_known_to_the_others(
    live_server: Any, transactional_db: None
) -> None:
    """One browser, one session: a tab left open neither warns nor says the session ended
    while the user is active in another one."""
    registrar = builders.user(username="deux-onglets", is_registrar=True)
    cookie = login_cookie(registrar, live_server)
    with chromium_page() as first:
        first.context.add_cookies([cookie])
        first.goto(live_server.url + reverse("rcp:home"))
        second = first.context.new_page()
        second.goto(live_server.url + reverse("rcp:patient-search"))
        left_open = first.locator("#session-limite")
        left_open.get_by_role("button", name="Rester connecté").wait_for(timeout=8000)
        # In the other tab: "Rester connecté"; the first tab's warning goes too.
        second.locator("#session-limite").get_by_role("button", name="Rester connecté").click(
            timeout=8000
        )
        left_open.get_by_role("button").wait_for(state="detached", timeout=3000)
        # Past the first tab's own deadline it has not said the session ended.
        time.sleep(LEAD + 1)
        assert "a pris fin" not in left_open.inner_text()
