"""The notification outbox: one row per (registration, GP) before any message exists.

A row is written by the worker's scan (``concerto notify``) as soon as the registration's
notification day has come; the worker then claims it, sends it over MSSanté and records
the outcome. See docs/decisions/0001-notification-outbox.md.

Status machine (conditional UPDATEs enforce it, never a blind save)::

    not_eligible ⇄ pending → sending → sent | failed | expired
                              sending → pending  (temporary error, lease expired, stop)

``sent``, ``failed`` and ``expired`` are terminal: a sent notification is never resent,
and the (registration, GP) pair is unique in the database.
"""

from __future__ import annotations

from django.db import models

from concerto.notifications.eligibility import reason_labels


class Notification(models.Model):
    """Notification préalable RCP — one MSSanté message to a patient's GP."""

    class Status(models.TextChoices):
        NOT_ELIGIBLE = "not_eligible", "non éligible"
        PENDING = "pending", "en attente"
        SENDING = "sending", "envoi en cours"
        SENT = "sent", "envoyée"
        FAILED = "failed", "échec"
        EXPIRED = "expired", "expirée"

    TERMINAL = (Status.SENT, Status.FAILED, Status.EXPIRED)
    NEEDS_ATTENTION = (Status.FAILED, Status.EXPIRED)

    registration = models.ForeignKey(
        "rcp.Registration",
        on_delete=models.PROTECT,
        related_name="notifications",
        verbose_name="inscription",
        # Look-ups by registration use the unique (registration, gp_rpps) index: a second
        # index would only cost every claim and every "sent" one more write.
        db_index=False,
    )
    # The GP this row is for ("" when the patient has no GP with an RPPS).
    gp_rpps = models.CharField("RPPS du médecin traitant", max_length=11, blank=True)
    status = models.CharField(
        "statut", max_length=12, choices=Status.choices, default=Status.PENDING
    )
    reasons = models.JSONField("motifs de non-éligibilité", default=list, blank=True)
    addresses = models.JSONField("adresses MSSanté", default=list, blank=True)
    # {address: {"code": 250, "reply": "…"}} — one outcome per recipient.
    recipient_outcomes = models.JSONField("résultat par destinataire", default=dict, blank=True)
    # Unique through Meta.constraints: as ``unique=True`` PostgreSQL would also get a
    # pattern-matching (``_like``) index nothing uses, written at every status change.
    message_id = models.CharField("Message-ID", max_length=200)
    due_at = models.DateTimeField("envoi prévu à partir de", null=True, blank=True)
    session_starts_at = models.DateTimeField("début de la séance", null=True, blank=True)
    attempts = models.PositiveIntegerField("tentatives", default=0)
    next_attempt_at = models.DateTimeField("prochaine tentative", null=True, blank=True)
    lease_until = models.DateTimeField("réservée jusqu'à", null=True, blank=True)
    claim_token = models.CharField(
        "jeton de l'envoi en cours", max_length=32, blank=True, default=""
    )
    claimed_by = models.CharField("processus", max_length=120, blank=True, default="")
    last_error = models.TextField("dernière erreur", blank=True, default="")
    created_at = models.DateTimeField("créée le")
    updated_at = models.DateTimeField("modifiée le")
    sent_at = models.DateTimeField("envoyée le", null=True, blank=True)
    closed_at = models.DateTimeField("clôturée le", null=True, blank=True)

    class Meta:
        verbose_name = "notification"
        verbose_name_plural = "notifications"
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "gp_rpps"], name="notification_one_per_registration_gp"
            ),
            models.UniqueConstraint(fields=["message_id"], name="notification_message_id_unique"),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "not_eligible",
                        "pending",
                        "sending",
                        "sent",
                        "failed",
                        "expired",
                    ]
                ),
                name="notification_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="notification_sent_has_instant",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sending") | models.Q(lease_until__isnull=False),
                name="notification_sending_has_lease",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
        ]

    def __str__(self) -> str:
        return f"Notification {self.pk} ({self.get_status_display()})"

    @property
    def needs_attention(self) -> bool:
        return self.status in self.NEEDS_ATTENTION

    @property
    def reason_labels(self) -> list[str]:
        return reason_labels(self.reasons)
