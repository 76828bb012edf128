"""Search of the access trail by patient or by user, with CSV export (administrators).

The search is a POST form (CSRF-protected): patient identifiers never travel in a URL.
Searching the trail is itself traced.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from concerto.accounts import policy
from concerto.audit import access
from concerto.audit.forms import PATIENT_ID, AuditSearchForm
from concerto.audit.models import AuditEvent
from concerto.lib.identifiers import INS_RE
from concerto.lib.spreadsheet import safe_cell
from concerto.patients.models import Patient

MAX_ROWS_ON_SCREEN = 500
CSV_HEADER = [
    "date (UTC)",
    "acteur",
    "id acteur",
    "rôle",
    "action",
    "patient",
    "objet",
    "id objet",
    "résultat",
    "adresse IP",
]


def _paris_day_bounds(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def search_events(data: dict[str, Any]) -> tuple[QuerySet[AuditEvent], int | None]:
    """The events matching the cleaned form data, and the patient id searched (if any)."""
    events = AuditEvent.objects.all()
    patient_id: int | None = None
    patient = data.get("patient") or ""
    if patient:
        # An INS is 15 characters, often all digits: it is looked up first; a shorter
        # number is an internal patient id.
        if INS_RE.match(patient) or not PATIENT_ID.fullmatch(patient):
            found = Patient.objects.filter(ins_number=patient).values_list("pk", flat=True).first()
            patient_id = found if found is not None else -1
        else:
            patient_id = int(patient)
        events = events.filter(patient_id=patient_id)
    who = (data.get("user") or "").strip()
    if who:
        # That user's events only: by account, or by the name the trail recorded (an
        # account since removed, "système"); "dupont" must not bring DUPONTEL's.
        ids = list(get_user_model().objects.filter(username=who).values_list("pk", flat=True))
        events = events.filter(Q(actor_id__in=ids) if ids else Q(actor__iexact=who))
    if data.get("start"):
        events = events.filter(at__gte=_paris_day_bounds(data["start"]))
    if data.get("end"):
        events = events.filter(at__lt=_paris_day_bounds(data["end"] + dt.timedelta(days=1)))
    return events.order_by("-at", "-id"), patient_id


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(events: QuerySet[AuditEvent]) -> Any:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: spreadsheets open the UTF-8 file correctly
    yield writer.writerow(CSV_HEADER)
    for e in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                safe_cell(v)
                for v in (
                    e.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    e.actor,
                    e.actor_id,
                    e.actor_role,
                    e.action,
                    e.patient_id,
                    e.object_type,
                    e.object_id,
                    e.get_outcome_display(),
                    e.ip,
                )
            ]
        )


@login_required
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if not policy.can_search_audit(request.user):
        access.record_access(
            request,
            action="audit.search",
            patient_id=None,
            role="",
            outcome=AuditEvent.Outcome.DENIED,
        )
        raise Http404("Page introuvable.")
    form = AuditSearchForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "searched": False}
    if request.method == "POST" and form.is_valid():
        events, patient_id = search_events(form.cleaned_data)
        export = "export" in request.POST
        access.record_access(
            request,
            action="audit.export" if export else "audit.search",
            patient_id=patient_id if patient_id and patient_id > 0 else None,
            role=policy.Role.ADMIN,
            details={"user": form.cleaned_data.get("user") or ""},
        )
        if export:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="journal-acces-{stamp}.csv"'
            response["Cache-Control"] = "no-store"
            return response
        rows = list(events[: MAX_ROWS_ON_SCREEN + 1])
        context.update(
            searched=True,
            rows=rows[:MAX_ROWS_ON_SCREEN],
            truncated=len(rows) > MAX_ROWS_ON_SCREEN,
            max_rows=MAX_ROWS_ON_SCREEN,
        )
    return render(request, "audit/search.html", context)
