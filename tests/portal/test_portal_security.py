"""Security properties of the portal and of the whole URLconf: authorisation matrix,
XSS corpus, CSRF, safe GETs, login redirects, constant query count."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from concerto.lib import clock
from concerto.portal.tokens import patient_token
from concerto.rcp import actions
from concerto.rcp.models import GPContribution
from tests import builders
from tests.portal.conftest import TODAY, PortalWorld
from tests.portal.urlconf import all_urls

# URLs anyone may request without a session (the login pages themselves, Pro Santé
# Connect's start and return, the demo login, the health check).
PUBLIC = {
    "home",
    "health",
    "login",
    "logout",
    "psc_login",
    "psc_callback",
    "demo_login",
    "admin:login",
    "admin:logout",
}


def client_for(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- Authorisation matrix ------------------------------------------------------------------


@pytest.mark.django_db
def test_authorisation_matrix_every_gp_times_every_other_gps_patient_url(
    portal_world: PortalWorld,
) -> None:
    pairs = 0
    for me in portal_world.gps:
        client = client_for(me.user)
        for other in portal_world.gps:
            if other is me:
                continue
            urls = other.patient_urls()
            for patient in (other.upcoming.patient, other.past.patient):
                token = patient_token(user_id=me.user.pk, patient_id=patient.pk)
                urls.append(("get", reverse("portal:dashboard") + f"?patient={token}"))
            names = {other.upcoming.patient.birth_name, other.past.patient.birth_name}
            for method, url in urls:
                response = getattr(client, method)(
                    url, {"comment": "intrusion"} if method == "post" else None
                )
                assert response.status_code == 404, (me.user.username, url, response.status_code)
                body = response.content.decode()
                assert not any(name in body for name in names), url
                pairs += 1
    assert not GPContribution.objects.filter(comment="intrusion").exists()
    assert pairs == 3 * 2 * 9
    print(f"\n[matrix] {pairs} (GP, other GP's patient URL) pairs tried: all 404")


# --- XSS ------------------------------------------------------------------------------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//xss.example/x.js></SCRIPT>",
    "<script>alert(String.fromCharCode(88,83,83))</script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</blockquote><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<img src=`javascript:alert(1)`>",
    '<img """><script>alert("XSS")</script>">',
    "<svg onload=alert(1)>",
    "<svg/onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href='javascript:alert(1)'><text x='20' y='20'>X</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<a href=javascript:alert(1)>clic</a>",
    '<a href="jav&#x09;ascript:alert(1)">clic</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    "<a href='  javascript:alert(1)'>x</a>",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "<div onmouseover=alert(1)>survol</div>",
    "<p onclick='alert(1)'>clic</p>",
    "<input autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)>",
    "<textarea autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<button formaction=javascript:alert(1)>x</button>",
    "<isindex action=javascript:alert(1) type=image>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<link rel=stylesheet href=javascript:alert(1)>",
    "<base href=javascript:alert(1)//>",
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background:url(javascript:alert(1))">',
    "<table background=javascript:alert(1)>",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e",
    "+ADw-script+AD4-alert(1)+ADw-/script+AD4-",
    "<scri\tpt>alert(1)</scri\tpt>",
    "{{ 7*7 }}{% debug %}",
    "<!--<script>alert(1)//-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<xss onafterscriptexecute=alert(1)><script>1</script>",
    "<a id=x tabindex=1 onfocusin=alert(1)></a>",
    "Texte normal avec <b>gras</b> et une URL https://exemple.test",
]

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "background")


def dangerous(html: bytes) -> tuple[int, int, int]:
    """(script elements, on* attributes, javascript: URLs) in a rendered page; the
    application's own script files (an empty element naming a file under STATIC_URL,
    what the CSP lets run) are not counted."""
    soup = BeautifulSoup(html, "html.parser")
    scripts = sum(
        1
        for script in soup.find_all("script")
        if script.string or not str(script.get("src", "")).startswith(settings.STATIC_URL)
    )
    handlers = 0
    js_urls = 0
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            if name.lower().startswith("on"):
                handlers += 1
            if name.lower() in URL_ATTRIBUTES:
                text = "".join(str(value).split()).lower()
                if text.startswith("javascript:"):
                    js_urls += 1
    return scripts, handlers, js_urls


def test_the_detector_detects() -> None:
    assert dangerous(b"<script>x</script><img onerror=y><a href=' javascript:z'>") == (1, 1, 1)
    own = f'<script src="{settings.STATIC_URL}concerto/session.js" defer></script>'.encode()
    assert dangerous(own) == (0, 0, 0)
    assert dangerous(b'<script src="https://evil.test/x.js"></script>') == (1, 0, 0)
    assert dangerous(own.replace(b"></script>", b">alert(1)</script>")) == (1, 0, 0)


@pytest.mark.django_db
def test_xss_corpus_is_rendered_inert(portal_world: PortalWorld) -> None:
    assert len(XSS_PAYLOADS) >= 50
    case = portal_world.gps[0]
    client = client_for(case.user)
    prefiche = reverse("portal:prefiche", args=[case.upcoming.pk])
    totals = [0, 0, 0]
    for payload in XSS_PAYLOADS:
        response = client.post(
            reverse("portal:contribute", args=[case.upcoming.pk]), {"comment": payload}
        )
        assert response.status_code == 302, payload
        page = client.get(prefiche)
        soup = BeautifulSoup(page.content, "html.parser")
        # The comment is really on the page, as text.
        assert soup.select_one("#contribution blockquote").get_text() == payload.strip()
        for i, n in enumerate(dangerous(page.content)):
            totals[i] += n
    # The compte-rendu quotes the contribution: render it with a long payload mix.
    mix = ""
    for payload in XSS_PAYLOADS:
        if len(mix) + len(payload) + 1 > 4000:
            break
        mix += payload + "\n"
    client.post(reverse("portal:contribute", args=[case.upcoming.pk]), {"comment": mix})
    with clock.as_of(case.upcoming.session.starts_at + dt.timedelta(hours=1)):
        actions.validate_compte_rendu(
            by=portal_world.world.participants[0][0],
            registration=case.upcoming,
            case_status="discussed",
            proposal="Proposition fictive.",
            attendees=portal_world.world.attendees(),
        )
    for url in (reverse("portal:compte_rendu", args=[case.upcoming.pk]), prefiche):
        page = client.get(url)
        assert page.status_code == 200
        assert "alert(1)" in page.content.decode()
        for i, n in enumerate(dangerous(page.content)):
            totals[i] += n
    assert totals == [0, 0, 0]
    print(
        f"\n[xss] {len(XSS_PAYLOADS)} payloads: {totals[0]} script elements, "
        f"{totals[1]} on* attributes, {totals[2]} javascript: URLs"
    )


# --- CSRF and safe GETs -----------------------------------------------------------------------


def domain_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every Concerto table except the access trail (reads are traced)."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if not label.startswith(("accounts.", "rcp.", "patients.", "directory.", "notifications.")):
            continue
        if label == "accounts.user":
            rows = list(model.objects.order_by("pk").values_list("pk", "username", "rpps"))
        else:
            rows = [tuple(r.values()) for r in model.objects.order_by("pk").values()]
        snapshot[label] = rows
    return snapshot


@pytest.mark.django_db
def test_every_post_without_csrf_token_is_refused(portal_world: PortalWorld) -> None:
    gp = portal_world.gps[0]
    admin = builders.user(is_superuser=True, is_staff=True, is_regional_admin=True)
    before = domain_snapshot()
    refused = 0
    for user in (gp.user, admin):
        client = client_for(user, enforce_csrf_checks=True)
        urls = [u.url for u in all_urls()] + [
            reverse("portal:contribute", args=[gp.upcoming.pk]),
            reverse("audit:search"),
        ]
        for url in urls:
            response = client.post(url, {"comment": "sans jeton", "wants_to_join": "on"})
            assert response.status_code == 403, (url, response.status_code)
            refused += 1
    assert domain_snapshot() == before
    assert not GPContribution.objects.exists()
    print(f"\n[csrf] {refused} POSTs without a CSRF token: all refused (403)")


@pytest.mark.django_db
def test_the_contribution_form_works_with_its_token(portal_world: PortalWorld) -> None:
    gp = portal_world.gps[0]
    client = client_for(gp.user, enforce_csrf_checks=True)
    page = client.get(reverse("portal:prefiche", args=[gp.upcoming.pk]))
    token = BeautifulSoup(page.content, "html.parser").find(
        "input", {"name": "csrfmiddlewaretoken"}
    )["value"]
    response = client.post(
        reverse("portal:contribute", args=[gp.upcoming.pk]),
        {"comment": "Avec jeton", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert GPContribution.objects.get().comment == "Avec jeton"


@pytest.mark.django_db
def test_no_get_changes_state(portal_world: PortalWorld) -> None:
    gp = portal_world.gps[0]
    admin = builders.user(is_superuser=True, is_staff=True, is_regional_admin=True)
    urls = [u.url for u in all_urls()] + [url for _, url in gp.patient_urls()]
    before = domain_snapshot()
    requested = 0
    for user in (gp.user, admin):
        client = client_for(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code < 500, url
            requested += 1
    assert domain_snapshot() == before
    # The contribution view does not even accept GET.
    assert client_for(gp.user).get(gp.patient_urls()[2][1]).status_code == 405
    print(f"\n[get] {requested} GETs: domain data unchanged")


# --- Login required everywhere but the public pages ---------------------------------------------


@pytest.mark.django_db
def test_every_non_public_url_redirects_to_login_without_session() -> None:
    client = Client()
    login_paths = {settings.LOGIN_URL, reverse("admin:login")}
    checked = 0
    names = set()
    for entry in all_urls():
        names.add(entry.name)
        if entry.name in PUBLIC:
            continue
        response = client.get(entry.url)
        assert response.status_code == 302, (entry.name, entry.url, response.status_code)
        target = urlsplit(response["Location"])
        assert target.path in login_paths, (entry.name, response["Location"])
        assert "next=" in target.query
        checked += 1
    assert {"portal:dashboard", "portal:prefiche", "audit:search"} <= names
    print(f"\n[login] {checked} non-public URLs without a session: all redirect to login")


# --- Constant query count ------------------------------------------------------------------------


def feed_with(lines: int, world: builders.World, gp_user: Any) -> None:
    """``lines`` news lines for ``gp_user``: 3 per past registration (upcoming, compte-rendu,
    PPS), 1 per upcoming one."""
    past_regs = lines // 4
    upcoming = lines - 3 * past_regs
    offset = dt.timedelta(days=lines % 97)  # distinct sessions for each call
    past_day = TODAY - dt.timedelta(days=10) - offset
    with clock.as_of(
        builders.paris(past_day.year, past_day.month, past_day.day) - dt.timedelta(days=5)
    ):
        past_session = world.session(past_day)
        future_session = world.session(TODAY + dt.timedelta(days=10) + offset)
        past = [
            world.register(past_session, world.patient(gp_rpps=gp_user.rpps))
            for _ in range(past_regs)
        ]
        for _ in range(upcoming):
            world.register(future_session, world.patient(gp_rpps=gp_user.rpps))
    with clock.as_of(past_session.starts_at + dt.timedelta(hours=2)):
        for registration in past:
            cr = actions.validate_compte_rendu(
                by=world.participants[0][0],
                registration=registration,
                case_status="discussed",
                proposal="Proposition fictive.",
                attendees=world.attendees(),
            )
            actions.generate_pps(
                by=world.participants[0][0],
                compte_rendu=cr,
                doctor_name="BENANDFICTIF Philippe",
                establishment_name="Polyclinique Imaginaire",
                content="Programme fictif.",
            )


@pytest.mark.django_db
def test_dashboard_query_count_does_not_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    from concerto.portal import views

    world = builders.World()
    paged: dict[int, int] = {}
    one_page: dict[int, int] = {}
    for lines in (10, 200):
        professional = builders.gp()
        gp_user = builders.user(rpps=professional.rpps)
        feed_with(lines, world, gp_user)
        client = client_for(gp_user)
        client.get(reverse("portal:dashboard"))  # warm the session
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("portal:dashboard"))
        assert len(BeautifulSoup(response.content, "html.parser").select("tbody tr")) == min(
            lines, views.NEWS_PER_PAGE
        )
        paged[lines] = len(queries)
        # Every line on one page: rendering must not query per line either. (The trail's
        # one INSERT per page may be split in batches by SQLite's variable limit.)
        with monkeypatch.context() as patch:
            patch.setattr(views, "NEWS_PER_PAGE", 1000)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(reverse("portal:dashboard"))
        assert len(BeautifulSoup(response.content, "html.parser").select("tbody tr")) == lines
        one_page[lines] = sum(
            1 for q in queries.captured_queries if "audit_auditevent" not in q["sql"]
        )
    assert paged[10] == paged[200]
    assert one_page[10] == one_page[200]
    print(
        f"\n[queries] dashboard: {paged[10]} queries for 10 lines, {paged[200]} for 200 "
        f"(all lines on one page: {one_page[10]} vs {one_page[200]} besides the trail)"
    )


def test_pages_showing_patients_are_not_kept_by_the_browser(client: Client, portal_world):
    """Back after a logout at a shared workstation must not show the last patient: every
    page says no-store (the downloads already did; the pages said nothing)."""
    case = portal_world.gps[0]
    client.force_login(case.user)
    seen = {}
    for url in (
        reverse("portal:dashboard"),
        reverse("portal:prefiche", args=[case.upcoming.pk]),
        reverse("portal:compte_rendu", args=[case.past.pk]),
        reverse("portal:pps", args=[case.pps.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        seen[url] = response.get("Cache-Control", "")
    client.force_login(portal_world.world.participants[0][0])
    for url in (
        reverse("rcp:registration", args=[case.upcoming.pk]),
        reverse("rcp:compte-rendu", args=[case.compte_rendu.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        seen[url] = response.get("Cache-Control", "")
    assert all("no-store" in value and "private" in value for value in seen.values()), seen


@pytest.mark.django_db
def test_the_prefiche_reads_what_it_shows_once(portal_world) -> None:
    """The pré-fiche of a file with its GP's contribution, before and after the meeting:
    a fixed number of queries (the contribution read with the file, not apart)."""
    counts = {}
    case = portal_world.gps[0]
    client = client_for(case.user)
    for name, registration in (("upcoming", case.upcoming), ("past", case.past)):
        GPContribution.objects.get_or_create(
            registration=registration,
            defaults={
                "author": case.user,
                "comment": "Suivi.",
                "author_name": "X",
                "updated_at": clock.now(),
            },
        )
        url = reverse("portal:prefiche", args=[registration.pk])
        client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert "Suivi." in response.content.decode()
        assert not [q for q in queries.captured_queries if "rcp_gpcontribution" in q["sql"]][1:]
        counts[name] = len(queries)
    print(f"\n[queries] pré-fiche: {counts}")
    # session, user, the file (with its GP's contribution), the trail, the validated
    # compte-rendu, the notification, the documents; after the meeting the PPS too.
    assert counts == {"upcoming": 7, "past": 8}
