"""``concerto import-directory PATH [PATH …]``: refresh the national directory from the
Annuaire Santé extraction files (.txt or .zip), atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from concerto.directory.importer import ImportRefused, ImportSummary, import_directory
from concerto.directory.progress import Progress, thousands
from concerto.lib import clock


class Command(BaseCommand):
    # The models' checks only: the others load every URL and view (0.7 s, single core, at
    # the start of every import). The security and audit-retention checks are for the web
    # server: `concerto check --deploy` (and `migrate`) run them all.
    requires_system_checks = [Tags.models]
    help = (
        "Importe les fichiers d'extraction de l'Annuaire Santé (PS_LibreAcces_Personne_activite "
        "et Extraction_Correspondance_MSSante, .txt ou .zip) : tout ou rien."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="FICHIER")
        parser.add_argument(
            "--report",
            type=Path,
            help="fichier du rapport des lignes rejetées (par défaut sous "
            "DIRECTORY_IMPORT_REPORT_DIR)",
        )
        parser.add_argument(
            "--max-bad-share",
            type=float,
            default=None,
            help="part maximale de lignes rejetées par fichier (0.01 = 1 %%) avant d'arrêter",
        )
        parser.add_argument(
            "--allow-shrink",
            action="store_true",
            help="accepter un fichier qui retire plus de la moitié de l'annuaire",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="tout comparer même si un fichier est identique au dernier importé",
        )
        parser.add_argument(
            "--progress-every",
            type=float,
            default=10.0,
            help="secondes entre deux lignes de progression (hors terminal)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["paths"]
        report_path: Path = options["report"] or (
            Path(settings.DIRECTORY_IMPORT_REPORT_DIR)
            / f"import-annuaire-{clock.now():%Y%m%d-%H%M%S}.tsv"
        )
        max_bad = options["max_bad_share"]
        if max_bad is None:
            max_bad = settings.DIRECTORY_IMPORT_MAX_BAD_SHARE
        tty = bool(getattr(self.stdout._out, "isatty", lambda: False)())  # noqa: SLF001
        progress = Progress(self.stdout, tty=tty, every=options["progress_every"])
        report_path.parent.mkdir(parents=True, exist_ok=True)
        with open(report_path, "w", encoding="utf-8") as report:
            try:
                summary = import_directory(
                    by=None,
                    paths=paths,
                    report=report,
                    report_path=report_path,
                    progress=progress,
                    max_bad_share=max_bad,
                    allow_shrink=options["allow_shrink"],
                    force=options["force"],
                )
            except ImportRefused as exc:
                report.write(f"# import arrêté : {exc}\n")
                raise CommandError(f"{exc}\nRapport : {report_path}") from exc
        self.stdout.write(self.style.SUCCESS(render_summary(summary)))


def render_summary(summary: ImportSummary) -> str:
    lines = ["Import de l'annuaire terminé."]
    for stats in summary.files:
        if stats.unchanged_since is not None:
            lines.append(
                f"  {stats.name} : identique au fichier importé le "
                f"{timezone.localtime(stats.unchanged_since):%d/%m/%Y à %H:%M}, rien à faire"
            )
            continue
        extra = []
        if stats.ignored:
            extra.append(f"{thousands(stats.ignored)} ADELI ignorées")
        if stats.cp1252_lines:
            extra.append(f"{thousands(stats.cp1252_lines)} décodées en Windows-1252")
        lines.append(
            f"  {stats.name} ({stats.layout.label}) : {thousands(stats.lines)} lignes lues, "
            f"{thousands(stats.staged)} retenues, {thousands(stats.bad)} rejetées"
            + (f" ({', '.join(extra)})" if extra else "")
        )
    for label, changes in (
        ("Professionnels", summary.professionals),
        ("Activités", summary.activities),
        ("Adresses MSSanté", summary.addresses),
    ):
        if changes is not None:
            lines.append(f"  {label} : {changes}")
    totals = summary.totals
    lines.append(
        f"  Annuaire : {thousands(totals.get('professionals', 0))} professionnels, "
        f"{thousands(totals.get('activities', 0))} activités, adresses "
        f"PER {thousands(totals.get('addresses_PER', 0))} / "
        f"ORG {thousands(totals.get('addresses_ORG', 0))} / "
        f"APP {thousands(totals.get('addresses_APP', 0))} / "
        f"CAB {thousands(totals.get('addresses_CAB', 0))}"
    )
    lines.append(f"  Lignes rejetées : {thousands(summary.bad_lines)}")
    for reason, count in sorted(summary.bad_by_reason.items()):
        lines.append(f"    {reason} : {thousands(count)}")
    for example in summary.examples[:5]:
        lines.append(f"    ex. {example}")
    rate = summary.rows_read / summary.seconds if summary.seconds else 0.0
    lines.append(
        f"  Durée : {summary.seconds:.1f} s ({thousands(summary.rows_read)} lignes, "
        f"{thousands(rate)} lignes/s). Rapport : {summary.report_path}"
    )
    return "\n".join(lines)
