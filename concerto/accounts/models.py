"""Accounts: the people who log in (Pro Santé Connect, or the demo login)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from concerto.lib.validators import validate_rpps


class User(AbstractUser):
    """A person who uses Concerto.

    Roles (SPEC §1) are not a single field: a GP is a user whose RPPS is declared as
    some patient's GP; organiser/participant are per board (``rcp.BoardMembership``);
    ``is_registrar`` is the médecin inscripteur; administrators are per territory.
    """

    rpps = models.CharField(
        "numéro RPPS",
        max_length=11,
        blank=True,
        null=True,
        unique=True,
        validators=[validate_rpps],
    )
    # Pro Santé Connect's opaque subject; never used as the RPPS.
    psc_sub = models.CharField(
        "identifiant PSC (sub)", max_length=255, blank=True, null=True, unique=True
    )
    specialty = models.CharField("spécialité", max_length=120, blank=True)
    is_registrar = models.BooleanField("médecin inscripteur", default=False)
    is_regional_admin = models.BooleanField("administrateur régional", default=False)
    admin_territories = models.ManyToManyField(
        "rcp.Territory",
        blank=True,
        related_name="administrators",
        verbose_name="territoires administrés",
    )

    class Meta:
        verbose_name = "utilisateur"
        verbose_name_plural = "utilisateurs"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rpps__isnull=True) | models.Q(rpps__regex=r"^[0-9]{11}$"),
                name="user_rpps_11_digits",
            ),
        ]

    @property
    def display_name(self) -> str:
        full = f"{self.last_name.upper()} {self.first_name}".strip()
        return full or self.username

    def __str__(self) -> str:
        """As the back office lists accounts (members picked by name, not by the
        ``psc-<RPPS>`` login): "ONCOFICTIF Odile (demo-oncologue)"."""
        full = f"{self.last_name.upper()} {self.first_name}".strip()
        return f"{full} ({self.username})" if full else self.username
