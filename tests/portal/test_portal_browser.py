"""The GP's journey in a real browser (Debian's Chromium through Playwright), with an
axe-core accessibility check of every page and screenshots under test-artifacts/."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from concerto.rcp.models import GPContribution
from tests import builders
from tests.portal.conftest import PASSWORD, TODAY, make_gp_case

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def session_for(user: Any) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return str(store.session_key)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Moderate, serious and critical axe-core violations of the current page."""
    # Evaluated through the DevTools protocol, so the page's strict CSP (script-src
    # 'self') need not be relaxed for the test.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.html).slice(0, 3)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("moderate", "serious", "critical")]


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A Chromium page. No ORM call may run while it is open: Playwright's sync API keeps
    an event loop in this thread, and a connection opened there would leak."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.csp_errors = []  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda msg: (
                page.csp_errors.append(msg.text)  # type: ignore[attr-defined]
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()


def test_gp_journey(
    live_server: Any,
    transactional_db: None,
    docs_dir: Path,
    notified: set[tuple[int, str]],
) -> None:
    world = builders.World(title="Tumeurs rares neuroendocrines RENATEN")
    case = make_gp_case(world, docs_dir, 0)
    later = world.session(TODAY + dt.timedelta(days=30), dt.time(17, 0))
    not_notified = world.register(later, world.patient(gp_rpps=case.user.rpps, birth_name="DCC"))
    notified.add((case.upcoming.pk, case.user.rpps))
    base = live_server.url
    session_key = session_for(case.user)
    identity = case.upcoming.patient.identity_label
    # The participants' session page belongs to the clinicians' pages (issue 7): checked
    # when it is in the URLconf.
    try:
        participant = (
            reverse("rcp:session", args=[case.upcoming.session_id]),
            session_for(world.participants[0][0]),
        )
    except NoReverseMatch:
        participant = None
        print("\n[browser] rcp:session not in the URLconf yet: participant view not checked")
    audits: dict[str, list[dict[str, Any]]] = {}
    with chromium_page() as page:
        journey(page, base, case, not_notified.pk, session_key, identity, audits)
        if participant is not None:
            as_participant(page, base, *participant, audits)
        csp_errors = list(page.csp_errors)
    contribution = GPContribution.objects.get(registration=case.upcoming)
    assert contribution.wants_to_join
    assert "depuis 2019" in contribution.comment

    assert csp_errors == []
    summary = {name: [v["id"] for v in found] for name, found in audits.items()}
    print(f"\n[axe] moderate/serious/critical violations per page: {summary}")
    assert all(not found for found in audits.values()), audits


def as_participant(
    page: Any, base: str, url: str, session_key: str, audits: dict[str, list[dict[str, Any]]]
) -> None:
    """A board participant sees the GP's comment and wish on the session's page."""
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": base}]
    )
    page.goto(base + url)
    text = page.inner_text("main")
    assert "Patient suivi au cabinet <b>depuis 2019</b>." in text
    assert "Souhaite participer à la RCP" in text
    page.screenshot(path=str(ARTIFACTS / "07-seance-participant.png"), full_page=True)
    audits["séance (participant)"] = axe_violations(page)


def journey(
    page: Any,
    base: str,
    case: Any,
    not_notified_pk: int,
    session_key: str,
    identity: str,
    audits: dict[str, list[dict[str, Any]]],
) -> None:
    """What the GP does in the browser (no ORM call in here)."""
    # Log in: the password form while it exists (demo), else the GP's session cookie (the
    # Pro Santé Connect login has its own browser tests).
    page.goto(f"{base}/connexion/")
    if page.locator("#id_username").count():
        page.fill("#id_username", case.user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit] >> text=Se connecter")
        page.wait_for_url(re.compile(r"/portail/$"))
    else:
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": base}]
        )
        page.goto(f"{base}/portail/")
    rows = page.locator("table tbody tr")
    assert rows.count() == 5
    assert "A venir : présentation en Tumeurs rares neuroendocrines RENATEN" in page.inner_text(
        "table"
    )
    page.screenshot(path=str(ARTIFACTS / "01-tableau-de-bord.png"), full_page=True)
    audits["tableau de bord"] = axe_violations(page)

    # Open the notified pre-fiche through the line's icon.
    line = rows.filter(has_text=identity).filter(has_text="A venir")
    line.get_by_role("link", name="Ouvrir la pré-fiche").click()
    page.wait_for_url(re.compile(rf"/portail/inscription/{case.upcoming.pk}/$"))
    aside = page.locator("aside")
    assert "Accès Webconférence (Médecins notifiés)" in aside.inner_text()
    assert "134679" in aside.inner_text()
    assert aside.get_by_role("link").get_attribute("href") == "https://visio.exemple.test/rcp"
    assert "Attention : ces éléments pourront évoluer" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "02-pre-fiche-notifiee.png"), full_page=True)
    audits["pré-fiche notifiée"] = axe_violations(page)

    # Contribute and tick the wish to join.
    page.get_by_label("Votre commentaire").fill("Patient suivi au cabinet <b>depuis 2019</b>.")
    page.get_by_label("Je suis intéressé à la participation à la RCP").check()
    page.get_by_role("button", name="Enregistrer ma contribution").click()
    page.wait_for_url(re.compile(r"#contribution$"))
    section = page.locator("#contribution")
    assert "Commentaire du Docteur GENERALISTEFICTIF0, Médecine Générale" in section.inner_text()
    assert "Patient suivi au cabinet <b>depuis 2019</b>." in section.inner_text()
    assert page.get_by_label("Je suis intéressé à la participation à la RCP").is_checked()
    assert "Votre contribution a été enregistrée." in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "03-contribution.png"), full_page=True)
    audits["contribution"] = axe_violations(page)
    # A registration this GP was not notified for: no link, no code.
    page.goto(f"{base}/portail/inscription/{not_notified_pk}/")
    aside_text = page.inner_text("aside")
    assert "134679" not in aside_text and "visio.exemple.test" not in aside_text
    page.screenshot(path=str(ARTIFACTS / "04-pre-fiche-non-notifiee.png"), full_page=True)
    audits["pré-fiche non notifiée"] = axe_violations(page)

    # After the meeting: compte-rendu and PPS.
    page.goto(f"{base}/portail/inscription/{case.past.pk}/compte-rendu/")
    assert "Surveillance (proposition fictive)." in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "05-compte-rendu.png"), full_page=True)
    audits["compte-rendu"] = axe_violations(page)
    page.get_by_role("link", name=re.compile("PPS généré le")).click()
    assert "Programme fictif." in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "06-pps.png"), full_page=True)
    audits["PPS"] = axe_violations(page)

    # Another GP's patient: 404.
    response = page.goto(f"{base}/portail/inscription/{999999}/")
    assert response is not None and response.status == 404


# The widest element that makes the page scroll sideways, if any (for the message).
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return null;
    let widest = null;
    for (const el of document.body.querySelectorAll('*')) {
        const right = el.getBoundingClientRect().right;
        if (right > width + 1 && (!widest || right > widest.right)) {
            widest = {right: Math.round(right), tag: el.tagName,
                      html: el.outerHTML.slice(0, 120)};
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, width, widest};
}"""


def test_gp_pages_reflow_at_320_css_pixels(
    live_server: Any,
    transactional_db: None,
    docs_dir: Path,
    notified: set[tuple[int, str]],
) -> None:
    """WCAG 1.4.10 (RGAA 10.11): at 320 CSS pixels wide (a phone, or 1280 px zoomed to
    400 %), no page scrolls sideways; a data table may scroll within its own frame."""
    world = builders.World(title="Tumeurs rares neuroendocrines RENATEN")
    case = make_gp_case(world, docs_dir, 0)
    notified.add((case.upcoming.pk, case.user.rpps))
    session_key = session_for(case.user)
    base = live_server.url
    pages = {
        "tableau de bord": "/portail/",
        "pré-fiche": f"/portail/inscription/{case.upcoming.pk}/",
        "compte-rendu": f"/portail/inscription/{case.past.pk}/compte-rendu/",
    }
    overflows = {}
    with chromium_page() as page:
        page.set_viewport_size({"width": 320, "height": 800})
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": base}]
        )
        for name, path in pages.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, name
            overflows[name] = page.evaluate(OVERFLOW)
            page.screenshot(path=str(ARTIFACTS / f"320px-{path.strip('/').replace('/', '-')}.png"))
        page.get_by_role("link", name=re.compile("PPS généré le")).click()
        overflows["PPS"] = page.evaluate(OVERFLOW)
    print(f"\n[reflow 320 px] {overflows}")
    assert overflows == dict.fromkeys(overflows)
