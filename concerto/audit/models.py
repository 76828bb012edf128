"""The audit trail: every domain change and every access to patient data.

Events carry no foreign keys (job-server's ``AuditableEvent``): deleting data never
deletes its trace. Rows are append-only; on PostgreSQL a trigger refuses UPDATE and
DELETE except the retention purge (see migration 0002).
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.db import models
from django.utils import timezone

# accounts.policy.Role's values (the trail keeps no foreign key, nor an import of it).
ROLE_LABELS = {
    "medecin_traitant": "médecin traitant",
    "medecin_inscripteur": "médecin inscripteur",
    "organisateur": "organisateur",
    "participant": "participant",
    "administrateur": "administrateur",
}


@functools.cache
def _model_names() -> dict[str, str]:
    return {
        model._meta.model_name or "": str(model._meta.verbose_name) for model in apps.get_models()
    }


class AuditEvent(models.Model):
    class Outcome(models.TextChoices):
        OK = "ok", "autorisé"
        DENIED = "denied", "refusé"

    at = models.DateTimeField("date", db_index=True)  # (stored in UTC, shown in Paris time)
    actor_id = models.BigIntegerField("identifiant de l'acteur", null=True, blank=True)
    actor = models.CharField("acteur", max_length=200, blank=True)
    actor_role = models.CharField("rôle", max_length=40, blank=True)
    # Indexed through Meta.indexes: as ``db_index=True`` PostgreSQL would also get a
    # pattern-matching (``_like``) index nothing uses, written at every event.
    action = models.CharField("action", max_length=80)
    object_type = models.CharField("type d'objet", max_length=60, blank=True)
    object_id = models.CharField("identifiant de l'objet", max_length=64, blank=True)
    patient_id = models.BigIntegerField("patient", null=True, blank=True, db_index=True)
    outcome = models.CharField(
        max_length=10, choices=Outcome.choices, default=Outcome.OK, verbose_name="résultat"
    )
    ip = models.GenericIPAddressField("adresse IP", null=True, blank=True)
    details = models.JSONField("détails", default=dict, blank=True)

    class Meta:
        verbose_name = "événement d'audit"
        verbose_name_plural = "journal d'audit"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["actor_id", "at"], name="audit_actor_at"),
            models.Index(fields=["action"], name="audit_action"),
        ]

    @property
    def role_label(self) -> str:
        """The role as people say it ("médecin traitant"), for pages; the code stays in
        the export."""
        return ROLE_LABELS.get(self.actor_role, self.actor_role)

    @property
    def object_label(self) -> str:
        """The object's kind by its model's French name ("inscription"), for pages."""
        return _model_names().get(self.object_type, self.object_type)

    def __str__(self) -> str:
        target = f"{self.object_type}#{self.object_id}"
        return f"{timezone.localtime(self.at):%d/%m/%Y %H:%M} {self.actor} {self.action} {target}"
