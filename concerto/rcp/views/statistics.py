"""Statistics for the 3C per board and period, and their CSV export."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from concerto.accounts import policy
from concerto.lib.spreadsheet import safe_cell
from concerto.rcp.forms import StatisticsForm, default_period
from concerto.rcp.models import Board
from concerto.rcp.stats import board_statistics
from concerto.rcp.views.boards import visible_boards


def _managed_boards(user: Any) -> QuerySet[Board]:
    ids = [b.pk for b in visible_boards(user) if policy.can_manage_board(user, b)]
    return Board.objects.filter(pk__in=ids).order_by("title")


def _form(request: HttpRequest) -> StatisticsForm:
    """The period form; a board the user does not manage is a 404, as everywhere."""
    boards = _managed_boards(request.user)
    board_id = request.GET.get("board", "")
    # (ASCII digits only: "²".isdigit(), but int("²") raises)
    known = board_id.isascii() and board_id.isdigit() and boards.filter(pk=int(board_id)).exists()
    if board_id and not known:
        raise Http404("Introuvable")
    start, end = default_period(timezone.localdate())
    data = request.GET if "board" in request.GET else None
    return StatisticsForm(data, boards=boards, initial={"start": start, "end": end})


@login_required
@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    # Aggregates only (no patient identity): no per-patient access event.
    form = _form(request)
    result = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        result = board_statistics(data["board"], data["start"], data["end"])
    return render(
        request,
        "rcp/statistics.html",
        {"form": form, "result": result, "query": request.GET.urlencode()},
    )


@login_required
@require_GET
def statistics_csv(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    if not (form.is_bound and form.is_valid()):
        return HttpResponse(
            "Paramètres invalides : RCP, date de début et date de fin attendues.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    data = form.cleaned_data
    result = board_statistics(data["board"], data["start"], data["end"])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="statistiques-rcp-{result.board.pk}-'
        f'{result.start:%Y%m%d}-{result.end:%Y%m%d}.csv"'
    )
    response.write("\ufeff")  # BOM: spreadsheet software then reads UTF-8
    writer = csv.writer(response, delimiter=";")
    writer.writerow(["RCP", "Du", "Au", "Indicateur", "Valeur"])
    for indicator, value in result.rows():
        cells = [result.board.title, f"{result.start:%d/%m/%Y}", f"{result.end:%d/%m/%Y}"]
        writer.writerow([safe_cell(cell) for cell in (*cells, indicator, value)])
    return response
