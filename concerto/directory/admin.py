from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from concerto.directory.models import (
    Activity,
    DirectorySource,
    Establishment,
    MSSanteAddress,
    Professional,
)
from concerto.lib.admin import ReadOnlyAdmin


class ImportedAdmin(ReadOnlyAdmin):
    """Rows of the national directory: shown, never edited here. ``import-directory``
    is their one writer (a hand edit would be undone by the next full comparison, and
    a refresh trusts the tables to be as the last import left them)."""


class ByRppsAdmin(ImportedAdmin):
    """A search for an RPPS (11 digits) is the exact, indexed look-up, not the admin's
    case-insensitive match of every search field: a full scan of the national
    directory (about a second for 1.3 million professionals)."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if len(term) == 11 and term.isdigit():
            return queryset.filter(rpps=term), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(Professional)
class ProfessionalAdmin(ByRppsAdmin):
    list_display = ["rpps", "last_name", "first_name", "profession_label", "specialty_label"]
    search_fields = ["=rpps", "last_name", "first_name"]
    list_filter = ["profession_label"]
    readonly_fields = ["mailboxes", "activities"]

    @admin.display(description="adresses MSSanté")
    def mailboxes(self, obj: Professional) -> str:
        rows = MSSanteAddress.objects.filter(rpps=obj.rpps).order_by("kind", "address")
        if not rows:
            return "Aucune adresse MSSanté dans l'annuaire."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((row.address, row.get_kind_display(), row.structure_name) for row in rows),
        )
        return format_html(
            "<table><caption>Boîtes aux lettres MSSanté (seules les personnelles servent à la "
            "notification)</caption><thead><tr><th scope='col'>Adresse</th>"
            "<th scope='col'>Type</th><th scope='col'>Structure</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="activités (lieux d'exercice)")
    def activities(self, obj: Professional) -> str:
        rows = Activity.objects.filter(rpps=obj.rpps).order_by("structure_name")
        if not rows:
            return "Aucune activité dans l'annuaire."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} {} {}</td><td>{}</td></tr>",
            (
                (
                    row.structure_name or row.trade_name,
                    row.practice_mode,
                    row.street,
                    row.postal_code,
                    row.city,
                    row.phone,
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><caption>Situations d'exercice</caption><thead><tr>"
            "<th scope='col'>Structure</th><th scope='col'>Mode d'exercice</th>"
            "<th scope='col'>Adresse</th><th scope='col'>Téléphone</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )


@admin.register(Activity)
class ActivityAdmin(ByRppsAdmin):
    list_display = ["rpps", "structure_name", "practice_mode", "postal_code", "city"]
    search_fields = ["=rpps", "structure_name", "city"]
    list_filter = ["practice_mode"]


@admin.register(MSSanteAddress)
class MSSanteAddressAdmin(ByRppsAdmin):
    list_display = ["address", "kind", "rpps", "structure_name"]
    list_filter = ["kind"]
    search_fields = ["address", "=rpps"]


@admin.register(Establishment)
class EstablishmentAdmin(admin.ModelAdmin):
    list_display = ["name", "finess", "city"]
    search_fields = ["name", "finess"]


@admin.register(DirectorySource)
class DirectorySourceAdmin(ImportedAdmin):
    """The last file of each kind imported (read only: written by import-directory)."""

    list_display = ["kind", "name", "imported_at", "rows", "professionals"]
    readonly_fields = [
        "kind",
        "name",
        "size",
        "digest",
        "rows",
        "professionals",
        "imported_at",
        "shape",
    ]
