"""``concerto psc-standin --port 8765``: a local Pro Santé Connect stand-in (development)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from concerto.accounts.standin import StandinProvider


class Command(BaseCommand):
    help = (
        "Démarre un fournisseur OpenID Connect local imitant Pro Santé Connect "
        "(personnes fictives), pour essayer la vraie connexion sans le service national."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            choices=["127.0.0.1", "localhost"],
            help="adresse d'écoute (boucle locale seulement)",
        )
        parser.add_argument("--client-id", default=settings.PSC_CLIENT_ID or "concerto-demo")
        parser.add_argument(
            "--client-secret", default=settings.PSC_CLIENT_SECRET or "concerto-demo-secret"
        )
        parser.add_argument(
            "--redirect-uri",
            action="append",
            help="adresse de retour autorisée (répétable) ; par défaut PSC_REDIRECT_URI",
        )
        parser.add_argument("--userinfo", choices=["json", "jwt"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("psc-standin est un outil de développement : refusé en production.")
        redirect_uris = options["redirect_uri"] or [settings.PSC_REDIRECT_URI]
        provider = StandinProvider(
            host=options["host"],
            port=options["port"],
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=[settings.PSC_POST_LOGOUT_REDIRECT_URI],
            userinfo_format=options["userinfo"],
        )
        self.stdout.write(
            "Simulateur Pro Santé Connect prêt (personnes fictives).\n"
            f"  émetteur (PSC_ISSUER) : {provider.issuer}\n"
            f"  PSC_CLIENT_ID={options['client_id']}\n"
            f"  PSC_CLIENT_SECRET={options['client_secret']}\n"
            f"  adresses de retour : {', '.join(redirect_uris)}\n"
            f"  userinfo : {options['userinfo']}\n"
            "Lancez Concerto avec PSC_ISSUER ci-dessus, puis « Se connecter avec Pro Santé "
            "Connect ».  Arrêt : Ctrl+C"
        )
        self.stdout.flush()
        try:
            provider.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            provider.stop()
