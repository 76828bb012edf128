"""``concerto make-directory-sample --professionals N --out DIR``: synthetic extraction
files in the published layout, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from concerto.directory.progress import thousands
from concerto.directory.sample import write_sample


class Command(BaseCommand):
    help = (
        "Écrit une paire de fichiers d'extraction de l'Annuaire Santé fictifs "
        "(activités et MSSanté), au format publié."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--professionals", type=int, required=True, metavar="N")
        parser.add_argument("--out", type=Path, required=True, metavar="DOSSIER")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--columns", type=int, choices=[56, 52], default=56)
        parser.add_argument("--encoding", choices=["utf-8", "cp1252"], default="utf-8")
        parser.add_argument(
            "--mssante-trailing-pipe",
            action="store_true",
            help="terminer aussi les lignes du fichier MSSanté par « | »",
        )
        parser.add_argument(
            "--churn",
            type=float,
            default=0.0,
            help="part des professionnels retirés, renommés ou ajoutés par rapport au même --seed",
        )
        parser.add_argument("--stamp", default="202611270300", help="AAAAMMJJhhmm du nom")
        parser.add_argument("--zip", action="store_true", help="écrire des archives .zip")

    def handle(self, *args: Any, **options: Any) -> None:
        report = write_sample(
            options["out"],
            professionals=options["professionals"],
            seed=options["seed"],
            activity_columns=options["columns"],
            encoding=options["encoding"],
            mssante_trailing_pipe=options["mssante_trailing_pipe"],
            churn=options["churn"],
            stamp=options["stamp"],
            as_zip=options["zip"],
        )
        self.stdout.write(
            f"{report.activity_path} : {thousands(report.activity_lines)} lignes "
            f"({thousands(report.adeli_lines)} ADELI)\n"
            f"{report.mssante_path} : {thousands(report.mssante_lines)} lignes "
            f"(PER {thousands(report.mailboxes['PER'])}, ORG {thousands(report.mailboxes['ORG'])}, "
            f"{report.duplicated_addresses} adresses en double)"
        )
