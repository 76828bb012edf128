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

# What each event's code means, for the pages (the export keeps the codes). Every code
# written by the application has one (tests/test_trail_completeness.py checks it).
ACTION_LABELS = {
    "accounts.admin_add": "compte créé (back-office)",
    "accounts.admin_change": "compte modifié (back-office)",
    "accounts.admin_granted": "droits d'administration accordés",
    "accounts.login": "connexion",
    "accounts.login_refused": "connexion refusée",
    "accounts.logout": "déconnexion",
    "accounts.user_created": "compte créé à la première connexion",
    "admin.add": "back-office : ajout",
    "admin.change": "back-office : modification",
    "audit.admin_list": "journal parcouru (back-office)",
    "audit.admin_view": "événement du journal consulté (back-office)",
    "audit.export": "journal exporté (CSV)",
    "audit.purge": "journal purgé au-delà de la durée de conservation",
    "audit.search": "journal recherché",
    "board.add_member": "membre ajouté à la RCP",
    "board.create": "RCP créée",
    "board.notification_consent": "accord ou retrait pour la notification du médecin traitant",
    "board.notifications_disabled": "notification du médecin traitant désactivée",
    "board.notifications_enabled": "notification du médecin traitant activée",
    "board.remove_member": "membre retiré de la RCP",
    "board.webconference": "webconférence de la RCP modifiée",
    "compte_rendu.edit": "décision : formulaire envoyé",
    "compte_rendu.edit_view": "décision : formulaire consulté",
    "compte_rendu.pdf": "compte-rendu téléchargé (PDF)",
    "compte_rendu.validate": "compte-rendu validé",
    "compte_rendu.view": "compte-rendu consulté",
    "directory.import": "annuaire importé",
    "document.download": "document téléchargé",
    "document.upload": "document déposé",
    "notification.demo_mailbox": "boîte aux lettres de démonstration consultée",
    "notification.failed": "notification du médecin traitant en échec",
    "notification.list": "notifications parcourues (back-office)",
    "notification.sent": "notification du médecin traitant envoyée",
    "notification.view": "notification consultée (back-office)",
    "patient.create": "patient créé",
    "patient.declare_gp": "médecin traitant déclaré",
    "patient.declare_gp_view": "médecin traitant : page consultée",
    "patient.duplicate_hit": "patient proposé comme doublon possible",
    "patient.search_hit": "patient trouvé par une recherche",
    "patient.view": "patient consulté",
    "portal.compte_rendu": "portail : compte-rendu consulté",
    "portal.contribution": "portail : contribution envoyée",
    "portal.dashboard": "portail : actualités consultées",
    "portal.patient_filter": "portail : liste des patients affichée",
    "portal.pps": "portail : PPS consulté",
    "portal.prefiche": "portail : pré-fiche consultée",
    "pps.create": "PPS : formulaire envoyé",
    "pps.create_view": "PPS : formulaire consulté",
    "pps.generate": "PPS généré",
    "pps.pdf": "PPS téléchargé (PDF)",
    "registration.complete": "pré-fiche déclarée complète (formulaire)",
    "registration.complete_prefiche": "pré-fiche déclarée complète",
    "registration.create": "patient inscrit à une séance",
    "registration.edit": "pré-fiche : formulaire envoyé",
    "registration.edit_view": "pré-fiche : formulaire consulté",
    "registration.gp_contribution": "contribution du médecin traitant enregistrée",
    "registration.list": "inscriptions listées",
    "registration.move": "dossier déplacé vers une autre séance",
    "registration.represent": "dossier présenté à nouveau (pré-fiche et documents repris)",
    "registration.update_prefiche": "pré-fiche modifiée",
    "registration.view": "inscription consultée",
    "registration.withdraw": "inscription retirée",
    "session.cancel": "séance annulée",
    "session.held": "séance marquée tenue",
    "session.move": "séance déplacée",
    "session.schedule": "séance planifiée",
    "session.view": "séance consultée",
    "session.view_registration": "dossier listé sur la page de la séance",
}
# The back office's own events: admin.<model>.<view>.
_ADMIN_VIEWS = {
    "list": "liste",
    "view": "fiche",
    "change": "modification",
    "add": "ajout",
    "delete": "suppression",
    "history": "historique",
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
    def action_label(self) -> str:
        """What the event is, in words ("portail : pré-fiche consultée"), for pages."""
        if self.action in ACTION_LABELS:
            return ACTION_LABELS[self.action]
        parts = self.action.split(".")
        if len(parts) == 3 and parts[0] == "admin":
            model = _model_names().get(parts[1], parts[1])
            return f"back-office : {model} ({_ADMIN_VIEWS.get(parts[2], parts[2])})"
        return self.action

    @property
    def object_label(self) -> str:
        """The object's kind by its model's French name ("inscription"), for pages."""
        return _model_names().get(self.object_type, self.object_type)

    def __str__(self) -> str:
        target = f"{self.object_type}#{self.object_id}"
        return f"{timezone.localtime(self.at):%d/%m/%Y %H:%M} {self.actor} {self.action} {target}"
