"""PDF renderings of the compte-rendu and of the PPS (fpdf2: pure Python, from PyPI).

fpdf2's core fonts cover Latin-1 only: typographic characters outside it are mapped to
their nearest Latin-1 form so every French text prints.
"""

from __future__ import annotations

from django.utils import timezone
from fpdf import FPDF

from concerto.rcp.models import PPS, CompteRendu

_REPLACEMENTS = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u00a0": " ",
    "\u202f": " ",
}


def latin1(text: str) -> str:
    for source, target in _REPLACEMENTS.items():
        text = text.replace(source, target)
    return text.encode("latin-1", errors="replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.set_title(latin1(title))
        self.set_creator("Concerto")
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()
        self.set_font("Helvetica", "B", 15)
        self.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, latin1(f"Concerto - {self.doc_title} - page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 11)
        self.multi_cell(0, 6, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def para(self, text: str) -> None:
        self.set_font("Helvetica", "", 10)
        self.multi_cell(0, 5, latin1(text or "-"), new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str) -> None:
        self.set_font("Helvetica", "B", 10)
        self.multi_cell(0, 5, latin1(label), new_x="LMARGIN", new_y="NEXT")
        self.para(value)


def _local(instant) -> str:  # type: ignore[no-untyped-def]
    return timezone.localtime(instant).strftime("%d/%m/%Y à %H:%M") if instant else "-"


def compte_rendu_pdf(compte_rendu: CompteRendu) -> bytes:
    registration = compte_rendu.registration
    session = registration.session
    patient = registration.patient
    doc = _Document(f"Compte-rendu de RCP - version {compte_rendu.version}")
    doc.field(
        "RCP", f"{session.board.title} - séance du {session.date:%d/%m/%Y} à {session.time:%H:%M}"
    )
    doc.field("Patient", patient.identity_label)
    doc.heading("Pré-fiche")
    doc.field("Motif de présentation", registration.reason)
    doc.field(
        "Localisation (CIM-10)", f"{registration.cim10_code} {registration.cim10_label}".strip()
    )
    doc.field("Histologie", registration.histology)
    doc.field("Stade TNM", registration.tnm)
    doc.field(
        "État général (OMS)",
        registration.get_oms_status_display() if registration.oms_status is not None else "",
    )
    doc.field("Antécédents et histoire de la maladie", registration.history)
    doc.field("Question posée à la RCP", registration.question)
    doc.heading("Participants présents")
    doc.para(
        "\n".join(f"{a.get('name', '')} - {a.get('specialty', '')}" for a in compte_rendu.attendees)
    )
    doc.field(
        "Quorum",
        "atteint"
        if compte_rendu.quorum_met
        else f"non atteint - motif de validation : {compte_rendu.quorum_override_reason}",
    )
    if compte_rendu.gp_contribution_quote:
        doc.heading("Contribution du médecin traitant")
        doc.para(compte_rendu.gp_contribution_quote)
    doc.heading("Décision")
    doc.field("Statut du dossier", compte_rendu.get_case_status_display())
    doc.field("Proposition de la RCP", compte_rendu.proposal)
    validator = compte_rendu.validated_by
    doc.heading("Validation")
    doc.para(
        f"Validé le {_local(compte_rendu.validated_at)} par "
        f"{getattr(validator, 'display_name', '-')} (version {compte_rendu.version})."
    )
    return bytes(doc.output())


def pps_pdf(pps: PPS) -> bytes:
    doc = _Document("Programme personnalisé de soins (PPS)")
    doc.field("Patient", pps.patient.identity_label)
    doc.field("Diagnostic", pps.diagnosis_label)
    doc.field("Médecin", pps.doctor_name)
    doc.field("Établissement", pps.establishment_name)
    doc.field(
        "Décision de RCP",
        f"{pps.compte_rendu.registration.session.board.title}, compte-rendu version "
        f"{pps.compte_rendu.version} validé le {_local(pps.compte_rendu.validated_at)}",
    )
    doc.heading("Proposition de la RCP")
    doc.para(pps.compte_rendu.proposal)
    doc.heading("Programme")
    doc.para(pps.content)
    doc.para(f"Généré le {_local(pps.created_at)}.")
    return bytes(doc.output())
