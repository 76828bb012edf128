"""The RCP process: territories, boards, sessions, registrations with their pre-fiche,
documents, GP contributions, decisions / compte-rendus, PPS and the GP's news feed.

Changes go through :mod:`concerto.rcp.actions`; these classes hold data and the
invariants the database can enforce.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from concerto.lib import clock
from concerto.lib.identifiers import CIM10_SQL_RE
from concerto.lib.validators import validate_cim10
from concerto.notifications.calendar import subdivision_choices

PARIS = ZoneInfo("Europe/Paris")


class Territory(models.Model):
    """A territory of the region (e.g. ex-Limousin), with its public-holiday calendar."""

    slug = models.SlugField("identifiant", max_length=60, unique=True)
    name = models.CharField("nom", max_length=120, unique=True)
    # Subdivision of the `holidays` package: "" = metropolitan France, "57"/"6AE"
    # Alsace-Moselle, "971"… overseas departments.
    holiday_subdivision = models.CharField(
        "calendrier des jours fériés",
        max_length=10,
        blank=True,
        default="",
        choices=subdivision_choices,  # only what the ``holidays`` package knows
    )

    class Meta:
        verbose_name = "territoire"
        verbose_name_plural = "territoires"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Board(models.Model):
    """RCP — a tumour board (e.g. "Tumeurs rares neuroendocrines RENATEN")."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "lundi"
        TUESDAY = 1, "mardi"
        WEDNESDAY = 2, "mercredi"
        THURSDAY = 3, "jeudi"
        FRIDAY = 4, "vendredi"

    territory = models.ForeignKey(
        Territory, on_delete=models.PROTECT, related_name="boards", verbose_name="territoire"
    )
    title = models.CharField("intitulé", max_length=200)
    specialty = models.CharField("organe ou spécialité", max_length=120)
    establishment = models.ForeignKey(
        "directory.Establishment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name="établissement",
    )
    usual_weekday = models.IntegerField(
        "jour habituel", choices=Weekday.choices, null=True, blank=True
    )
    usual_time = models.TimeField("heure habituelle", null=True, blank=True)
    webconference_url = models.URLField("lien de webconférence", blank=True)
    webconference_code = models.CharField("code d'accès", max_length=40, blank=True)
    # The notification opt-in: switched on only by the action that checks every
    # organiser and participant agreed (see NotificationConsent).
    notifications_enabled = models.BooleanField("notification du médecin traitant", default=False)
    notifications_enabled_at = models.DateTimeField(
        "notification activée le", null=True, blank=True
    )
    requires_core_specialties = models.BooleanField(
        "quorum : chirurgien, oncologue médical et radiothérapeute requis", default=False
    )
    members: models.ManyToManyField = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="BoardMembership",
        related_name="boards",
        verbose_name="membres",
    )

    class Meta:
        verbose_name = "RCP"
        verbose_name_plural = "RCP"
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["territory", "title"], name="board_title_unique"),
            models.CheckConstraint(
                condition=models.Q(notifications_enabled=False)
                | models.Q(notifications_enabled_at__isnull=False),
                name="board_optin_has_instant",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def has_webconference(self) -> bool:
        return bool(self.webconference_url)


class BoardMembership(models.Model):
    class Role(models.TextChoices):
        ORGANISER = "organiser", "secrétaire / organisateur"
        PARTICIPANT = "participant", "participant"

    board = models.ForeignKey(
        Board, on_delete=models.CASCADE, related_name="memberships", verbose_name="RCP"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="board_memberships",
        verbose_name="membre",
    )
    role = models.CharField("rôle", max_length=20, choices=Role.choices)
    specialty = models.CharField("spécialité", max_length=120, blank=True)

    class Meta:
        verbose_name = "membre"
        verbose_name_plural = "membres"
        constraints = [
            models.UniqueConstraint(fields=["board", "user", "role"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}"


class NotificationConsent(models.Model):
    """Consent log of the notification opt-in: who agreed or withdrew, and when.

    Append-only: the current position of a member is their latest row.
    """

    board = models.ForeignKey(
        Board, on_delete=models.CASCADE, related_name="consents", verbose_name="RCP"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name="membre"
    )
    agreed = models.BooleanField("accord")
    at = models.DateTimeField("le")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="enregistré par",
    )

    class Meta:
        verbose_name = "accord de notification"
        verbose_name_plural = "accords de notification"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        day = timezone.localtime(self.at)
        return f"{self.user} : {'accord' if self.agreed else 'retrait'} le {day:%d/%m/%Y}"


class Session(models.Model):
    """Séance — one meeting of a board, at a local date and hour (Europe/Paris)."""

    class Status(models.TextChoices):
        PLANNED = "planned", "prévue"
        HELD = "held", "tenue"
        CANCELLED = "cancelled", "annulée"

    board = models.ForeignKey(
        Board, on_delete=models.PROTECT, related_name="sessions", verbose_name="RCP"
    )
    date = models.DateField("date")
    time = models.TimeField("heure")
    # The same instant in UTC, derived from (date, time) in Europe/Paris on save.
    starts_at = models.DateTimeField("début (UTC)", db_index=True, editable=False)
    status = models.CharField(
        "statut", max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    cancelled_at = models.DateTimeField("annulée le", null=True, blank=True)

    class Meta:
        verbose_name = "séance"
        verbose_name_plural = "séances"
        ordering = ["date", "time"]
        constraints = [
            models.UniqueConstraint(fields=["board", "date", "time"], name="session_unique"),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | models.Q(cancelled_at__isnull=False),
                name="session_cancelled_has_instant",
            ),
        ]
        indexes = [models.Index(fields=["date", "status"], name="session_date_status")]

    @property
    def to_mark_held(self) -> bool:
        """Started and still "prévue": its GPs read "A venir" a past date until it is
        marked held."""
        return self.status == self.Status.PLANNED and self.starts_at <= clock.now()

    def __str__(self) -> str:
        return f"{self.board} — {self.date:%d/%m/%Y} {self.time:%H:%M}"

    @staticmethod
    def local_start(date: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(date, time, tzinfo=PARIS)

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.starts_at = self.local_start(self.date, self.time).astimezone(dt.UTC)
        super().save(*args, **kwargs)


class Registration(models.Model):
    """Inscription d'un patient à une séance de RCP, with its pre-fiche."""

    class Status(models.TextChoices):
        ACTIVE = "active", "inscrit"
        WITHDRAWN = "withdrawn", "retiré"

    class OMS(models.IntegerChoices):
        OMS0 = 0, "OMS 0 — activité normale"
        OMS1 = 1, "OMS 1 — symptômes, ambulatoire"
        OMS2 = 2, "OMS 2 — alité < 50 % du temps"
        OMS3 = 3, "OMS 3 — alité > 50 % du temps"
        OMS4 = 4, "OMS 4 — grabataire"

    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="registrations", verbose_name="séance"
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="registrations",
        verbose_name="patient",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="inscrit par",
    )
    registered_at = models.DateTimeField("inscrit le")
    status = models.CharField(
        "statut", max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    withdrawn_at = models.DateTimeField("retiré le", null=True, blank=True)
    # Set when the file was moved to another session (the withdrawn registration then
    # leads there: the GP's e-mail links to this one).
    moved_to = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="déplacée vers",
    )
    # Pre-fiche
    reason = models.TextField("motif de présentation", blank=True)
    cim10_code = models.CharField(
        "code CIM-10", max_length=6, blank=True, validators=[validate_cim10]
    )
    cim10_label = models.CharField("localisation (libellé CIM-10)", max_length=255, blank=True)
    histology = models.TextField("histologie", blank=True)
    tnm = models.CharField("stade TNM", max_length=60, blank=True)
    oms_status = models.IntegerField(
        "état général (OMS)", choices=OMS.choices, null=True, blank=True
    )
    history = models.TextField("antécédents et histoire de la maladie", blank=True)
    question = models.TextField("question posée à la RCP", blank=True)
    prefiche_completed_at = models.DateTimeField("pré-fiche complète le", null=True, blank=True)

    class Meta:
        verbose_name = "inscription"
        verbose_name_plural = "inscriptions"
        ordering = ["session__date", "registered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "patient"],
                condition=models.Q(status="active"),
                name="registration_one_active_per_session",
            ),
            models.CheckConstraint(
                condition=models.Q(cim10_code="") | models.Q(cim10_code__regex=CIM10_SQL_RE),
                name="registration_cim10_format",
            ),
            models.CheckConstraint(
                condition=models.Q(oms_status__isnull=True)
                | models.Q(oms_status__gte=0, oms_status__lte=4),
                name="registration_oms_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="withdrawn") | models.Q(withdrawn_at__isnull=False),
                name="registration_withdrawn_has_instant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} → {self.session}"

    PREFICHE_REQUIRED = ("reason", "cim10_code", "cim10_label", "question")

    def missing_prefiche_fields(self) -> list[str]:
        return [name for name in self.PREFICHE_REQUIRED if not getattr(self, name)]

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Document(models.Model):
    """A document attached to a registration (PDF or image), stored outside the web root."""

    registration = models.ForeignKey(
        Registration, on_delete=models.PROTECT, related_name="documents", verbose_name="inscription"
    )
    title = models.CharField("titre", max_length=200)
    original_name = models.CharField("nom du fichier", max_length=255)
    content_type = models.CharField("type", max_length=60)
    size = models.PositiveIntegerField("taille (octets)")
    sha256 = models.CharField("empreinte SHA-256", max_length=64)
    stored_name = models.CharField("nom de stockage", max_length=80, unique=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="déposé par",
    )
    uploaded_at = models.DateTimeField("déposé le")

    class Meta:
        verbose_name = "document"
        verbose_name_plural = "documents"
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def type_label(self) -> str:
        """ "PDF", "PNG", "JPEG": the checked type as people name it."""
        return {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}.get(
            self.content_type, self.content_type
        )


class GPContribution(models.Model):
    """Contribution du médecin traitant: a comment and the wish to join the meeting."""

    registration = models.OneToOneField(
        Registration,
        on_delete=models.PROTECT,
        related_name="gp_contribution",
        verbose_name="inscription",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="auteur"
    )
    author_name = models.CharField("nom", max_length=200)
    author_specialty = models.CharField("spécialité", max_length=120, blank=True)
    comment = models.TextField("commentaire", blank=True, max_length=4000)
    wants_to_join = models.BooleanField(
        "Je suis intéressé à la participation à la RCP", default=False
    )
    updated_at = models.DateTimeField("modifié le")

    class Meta:
        verbose_name = "contribution du médecin traitant"
        verbose_name_plural = "contributions du médecin traitant"

    def __str__(self) -> str:
        return f"Commentaire du Docteur {self.author_name}"


class FrozenError(ValidationError):
    """A validated compte-rendu is never edited in place."""


class CompteRendu(models.Model):
    """Decision and compte-rendu of a registration, versioned; validated = frozen."""

    class CaseStatus(models.TextChoices):
        DISCUSSED = "discussed", "dossier discuté"
        RECORDED = "recorded", "enregistré sans discussion"
        REPRESENT = "represent", "à représenter"

    registration = models.ForeignKey(
        Registration,
        on_delete=models.PROTECT,
        related_name="compte_rendus",
        verbose_name="inscription",
    )
    version = models.PositiveIntegerField("version")
    case_status = models.CharField("statut du dossier", max_length=10, choices=CaseStatus.choices)
    proposal = models.TextField("proposition de la RCP")
    # Participants present: [{"user_id": …, "name": …, "specialty": …}]
    attendees = models.JSONField("participants présents", default=list)
    quorum_met = models.BooleanField("quorum atteint")
    quorum_override_reason = models.TextField("motif de validation sans quorum", blank=True)
    gp_contribution_quote = models.TextField("contribution du médecin traitant", blank=True)
    validated_at = models.DateTimeField("validé le", null=True, blank=True)
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="validé par",
    )

    class Meta:
        verbose_name = "compte-rendu"
        verbose_name_plural = "comptes-rendus"
        ordering = ["registration", "version"]
        constraints = [
            models.UniqueConstraint(fields=["registration", "version"], name="cr_version_unique"),
            models.CheckConstraint(
                condition=models.Q(quorum_met=True) | ~models.Q(quorum_override_reason=""),
                name="cr_quorum_or_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Compte-rendu v{self.version} — {self.registration}"

    @property
    def is_validated(self) -> bool:
        return self.validated_at is not None

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if (
            self.pk is not None
            and CompteRendu.objects.filter(pk=self.pk, validated_at__isnull=False).exists()
        ):
            raise FrozenError("Un compte-rendu validé ne peut plus être modifié.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.is_validated:
            raise FrozenError("Un compte-rendu validé ne peut pas être supprimé.")
        return super().delete(*args, **kwargs)


class PPS(models.Model):
    """Programme personnalisé de soins, generated from a validated decision."""

    compte_rendu = models.ForeignKey(
        CompteRendu, on_delete=models.PROTECT, related_name="pps", verbose_name="compte-rendu"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="pps", verbose_name="patient"
    )
    doctor_name = models.CharField("médecin", max_length=200)
    establishment_name = models.CharField("établissement", max_length=200)
    diagnosis_label = models.CharField("diagnostic", max_length=255)
    content = models.TextField("programme")
    created_at = models.DateTimeField("généré le")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="généré par",
    )

    class Meta:
        verbose_name = "PPS"
        verbose_name_plural = "PPS"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"PPS {self.patient} ({timezone.localtime(self.created_at):%d/%m/%Y})"


class NewsItem(models.Model):
    """Actualité — one line of a GP's news feed about one of their patients.

    Written by the actions (registration, compte-rendu validation, PPS), so the
    feed is one indexed query whatever its length.
    """

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", "à venir"
        COMPTE_RENDU = "compte_rendu", "compte-rendu validé"
        PPS = "pps", "nouveau PPS"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="news", verbose_name="patient"
    )
    kind = models.CharField("type", max_length=20, choices=Kind.choices)
    date = models.DateField("date")
    text = models.CharField("informations", max_length=500)
    registration = models.ForeignKey(
        Registration,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="news",
        verbose_name="inscription",
    )
    compte_rendu = models.ForeignKey(
        CompteRendu,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="news",
        verbose_name="compte-rendu",
    )
    pps = models.ForeignKey(
        PPS,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="news",
        verbose_name="PPS",
    )
    created_at = models.DateTimeField("créée le")
    # The patient's declared GP, copied by the database itself (triggers of migration
    # rcp 0002: set on insert, rewritten when the patient's GP changes, whatever writes
    # it), so a GP's feed is read in order from one index instead of joining the
    # patients and sorting all their lines. Never written by the application.
    gp_rpps = models.CharField("RPPS du médecin traitant", max_length=11, null=True, editable=False)

    class Meta:
        verbose_name = "actualité"
        verbose_name_plural = "actualités"
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "registration"],
                condition=models.Q(kind="upcoming"),
                name="news_one_upcoming_per_registration",
            ),
            models.UniqueConstraint(
                fields=["compte_rendu"],
                condition=models.Q(kind="compte_rendu"),
                name="news_one_per_compte_rendu",
            ),
            models.UniqueConstraint(
                fields=["pps"], condition=models.Q(pps__isnull=False), name="news_one_per_pps"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-date"], name="news_patient_date"),
            models.Index(fields=["gp_rpps", "-date", "-created_at", "-id"], name="news_gp_feed"),
        ]

    def __str__(self) -> str:
        return self.text
