"""The national directory (annuaire santé): professionals, their MSSanté mailboxes,
and establishments (FINESS).

Filled by ``concerto import-directory`` from the Annuaire Santé extraction files.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Func, Value
from django.db.models.functions import Length
from django.db.models.lookups import Exact

from concerto.lib.validators import validate_rpps


class BytewiseColumn(models.CharField):
    """Text compared byte by byte: on PostgreSQL the column has the "C" collation, whose
    b-tree indexes build about twice as fast (PostgreSQL sorts "C" text by abbreviated
    keys, not under other collations: measured on the national import, 2026-11-27), and a
    plain b-tree then serves a prefix ``LIKE``, so no second "_like" index is needed. For
    values whose order under a language's rules means nothing (digits, ASCII e-mail
    addresses). Equality with columns of other tables (default collation) is unaffected.
    SQLite has no "C" collation: its default (binary) is one."""

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class RppsColumn(BytewiseColumn):
    """An RPPS (11 digits) in the directory's tables (digits compare and sort the same
    under "C" as under the database's collation)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 11)
        super().__init__(*args, **kwargs)


# An RPPS is 11 ASCII digits. Checked as "11 characters, none left once the digits are
# trimmed" rather than by a regular expression: the same rows pass, and the database
# checks it several times faster (a first import COPYs 1.3 M professionals: the regex cost
# 1.5 s of a 4-5 s COPY, measured 2026-11-27). LTRIM(x, chars) exists on both databases.
_ELEVEN_DIGITS = models.Q(
    Exact(Length("rpps"), 11),
    Exact(
        Func(F("rpps"), Value("0123456789"), function="LTRIM", output_field=models.CharField()), ""
    ),
)


class Establishment(models.Model):
    """Établissement de santé, identified by its FINESS number (9 characters)."""

    finess = models.CharField("FINESS", max_length=9, unique=True)
    name = models.CharField("raison sociale", max_length=200)
    city = models.CharField("commune", max_length=120, blank=True)

    class Meta:
        verbose_name = "établissement"
        verbose_name_plural = "établissements"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(finess__regex=r"^[0-9][0-9AB][0-9]{7}$"),
                name="establishment_finess_format",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Professional(models.Model):
    """Professionnel de santé (PP), identified by RPPS (11 digits, Luhn-valid)."""

    # Unique through Meta, not unique=True: Django would add a "_like" index, which the "C"
    # collation makes useless (the GP search by the first digits of an RPPS,
    # ``rpps__startswith`` in directory.lookup.doctor_query, uses the unique b-tree).
    rpps = RppsColumn("RPPS", validators=[validate_rpps])
    civility = models.CharField("civilité d'exercice", max_length=20, blank=True)
    last_name = models.CharField("nom d'exercice", max_length=120)
    first_name = models.CharField("prénom d'exercice", max_length=120, blank=True)
    profession_code = models.CharField("code profession", max_length=4, blank=True)
    profession_label = models.CharField("profession", max_length=120, blank=True)
    specialty_code = models.CharField("code savoir-faire", max_length=10, blank=True)
    specialty_label = models.CharField("savoir-faire", max_length=160, blank=True)

    class Meta:
        verbose_name = "professionnel de santé"
        verbose_name_plural = "professionnels de santé"
        ordering = ["last_name", "first_name"]
        constraints = [
            models.CheckConstraint(condition=_ELEVEN_DIGITS, name="professional_rpps_11_digits"),
            models.UniqueConstraint(fields=["rpps"], name="directory_professional_rpps_key"),
        ]
        # The médecins' names in order: the GP search (lookup.doctor_query) walks it for a
        # word too short for the trigram index. Médecins only, like that index: the other
        # 55 % of the directory never appear in the search, and a first import builds it in
        # a quarter of the time of an index of every name (measured 2026-11-28, ADR 0008);
        # the back office's list of every professional sorts without it (0.13 s nationally).
        indexes = [
            models.Index(
                fields=["last_name", "first_name"],
                name="professional_doctor_name",
                condition=models.Q(profession_code="10"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.last_name.upper()} {self.first_name} ({self.rpps})"

    @property
    def display_name(self) -> str:
        return f"{self.last_name.upper()} {self.first_name}".strip()


class MSSanteAddress(models.Model):
    """Boîte aux lettres MSSanté. The address is the key (the files have no other id)."""

    class Kind(models.TextChoices):
        PERSONAL = "PER", "personnelle"
        ORGANISATIONAL = "ORG", "organisationnelle"
        APPLICATION = "APP", "applicative"
        CABINET = "CAB", "cabinet"

    # Unique and indexed through Meta (a constraint, an index): PostgreSQL then gets no
    # second "_like" index for prefix searches, which nothing here makes, and which the
    # import would have to build and maintain.
    # (Lower-case ASCII, checked by the import: bytewise order is their order; the unique
    # index of 543,000 addresses builds in half the time.)
    address = BytewiseColumn("adresse", max_length=254)
    kind = models.CharField("type de BAL", max_length=3, choices=Kind.choices)
    # By RPPS rather than a foreign key: the two directory files are refreshed
    # independently and a mailbox may name a professional the other file lacks.
    rpps = RppsColumn("RPPS", blank=True)
    structure_name = models.CharField("structure", max_length=200, blank=True)

    class Meta:
        verbose_name = "adresse MSSanté"
        verbose_name_plural = "adresses MSSanté"
        ordering = ["address"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(address__iendswith=".mssante.fr"),
                name="mssante_address_domain",
            ),
            models.UniqueConstraint(fields=["address"], name="mssante_address_unique"),
        ]
        indexes = [models.Index(fields=["rpps"], name="mssante_address_rpps")]

    def __str__(self) -> str:
        return self.address


class Activity(models.Model):
    """Situation d'exercice: one line of the activity file (a professional × a place of
    practice).

    The file gives an activity no identifier, so ``key`` is a digest of the whole line:
    an unchanged line keeps its row, a changed line is one removal and one addition.
    Linked to the professional by RPPS rather than a foreign key, like the mailboxes:
    the import replaces rows set-wise and a foreign key would only add per-row checks.
    """

    # A digest of the line (UTF-8, blocks.line_key): a native 16-byte uuid on PostgreSQL,
    # compared bytewise.
    key = models.UUIDField("empreinte de la ligne", unique=True)
    rpps = RppsColumn("RPPS")  # indexed through Meta, like the mailboxes'
    practice_mode = models.CharField("mode d'exercice", max_length=120, blank=True)
    role = models.CharField("rôle", max_length=120, blank=True)
    sector = models.CharField("secteur d'activité", max_length=160, blank=True)
    siret = models.CharField("SIRET du site", max_length=14, blank=True)
    finess_site = models.CharField("FINESS du site", max_length=9, blank=True)
    finess_legal = models.CharField("FINESS juridique", max_length=9, blank=True)
    structure_id = models.CharField("identifiant de la structure", max_length=40, blank=True)
    structure_name = models.CharField("raison sociale du site", max_length=200, blank=True)
    trade_name = models.CharField("enseigne", max_length=200, blank=True)
    street = models.CharField("adresse", max_length=250, blank=True)
    postal_code = models.CharField("code postal", max_length=10, blank=True)
    city = models.CharField("commune", max_length=120, blank=True)
    phone = models.CharField("téléphone", max_length=40, blank=True)
    email = models.CharField("adresse e-mail", max_length=254, blank=True)

    class Meta:
        verbose_name = "activité"
        verbose_name_plural = "activités"
        ordering = ["rpps", "structure_name"]
        indexes = [models.Index(fields=["rpps"], name="activity_rpps")]

    def __str__(self) -> str:
        return f"{self.rpps} — {self.structure_name or self.trade_name or self.city}"


class DirectorySource(models.Model):
    """The last file of each kind applied to the directory, to recognise an unchanged
    file without comparing millions of rows again (``import-directory --force`` does)."""

    kind = models.CharField("type de fichier", max_length=20, unique=True)
    name = models.CharField("fichier", max_length=255)
    size = models.BigIntegerField("taille (octets)")
    # SHA-256 of the file (hardware-accelerated: hashing costs a fraction of reading).
    digest = models.CharField("empreinte SHA-256", max_length=64)
    rows = models.BigIntegerField("lignes en base après l'import")
    professionals = models.BigIntegerField("professionnels en base après l'import", default=0)
    imported_at = models.DateTimeField("importé le")
    # The importer's reading rules (a version) and the file's header, digested: the rows
    # depend on both, not only on the lines. Another shape, and the next import compares
    # everything (an empty shape: imported before it was recorded).
    shape = models.CharField("forme (version de lecture et en-tête)", max_length=64, blank=True)

    class Meta:
        verbose_name = "fichier importé"
        verbose_name_plural = "fichiers importés"

    def __str__(self) -> str:
        return self.name
