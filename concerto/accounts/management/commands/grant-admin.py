"""``concerto grant-admin --rpps N (--regional | --territory SLUG…)``.

Makes a professional an administrator. The first administrator of a deployment is
named this way; they then log in through Pro Santé Connect (there is no password).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from concerto.accounts import actions
from concerto.lib.identifiers import is_valid_rpps
from concerto.rcp.models import Territory


class Command(BaseCommand):
    help = "Nomme administrateur (régional ou de territoires) le professionnel de ce RPPS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rpps", required=True, help="numéro RPPS (11 chiffres)")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--regional", action="store_true", help="administrateur régional")
        group.add_argument(
            "--territory", action="append", metavar="SLUG", help="territoire (répétable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rpps = options["rpps"].strip()
        if not is_valid_rpps(rpps):
            raise CommandError(f"RPPS invalide : {rpps!r} (11 chiffres, clé de Luhn).")
        territories = []
        for slug in options["territory"] or []:
            territory = Territory.objects.filter(slug=slug).first()
            if territory is None:
                known = ", ".join(Territory.objects.values_list("slug", flat=True)) or "aucun"
                raise CommandError(f"Territoire inconnu : {slug!r} (connus : {known}).")
            territories.append(territory)
        try:
            user, created = actions.grant_admin(
                by=None, rpps=rpps, regional=options["regional"], territories=territories
            )
        except actions.AccountRefused as exc:
            raise CommandError(
                f"Le RPPS {rpps} n'a ni compte ni fiche dans l'annuaire : importez l'annuaire "
                "d'abord."
            ) from exc
        scope = "régional" if options["regional"] else ", ".join(t.name for t in territories)
        verb = "créé et nommé" if created else "nommé"
        self.stdout.write(
            self.style.SUCCESS(f"{user.display_name} ({rpps}) {verb} administrateur : {scope}.")
        )
