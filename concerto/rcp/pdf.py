"""PDF renderings of the compte-rendu and of the PPS (fpdf2: pure Python, from PyPI).

The text is set in DejaVu Sans, shipped in ``fonts/`` (Bitstream Vera licence, in
``fonts/LICENSE``), embedded as a subset: clinical notation prints as typed ("β-HCG",
"HER2−", "5 μg", "10⁹/L", "≥", "œdème"). fpdf2's built-in fonts cover Latin-1 only and
printed those as "?". A character the font lacks (an emoji, say) prints as "?".
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.utils import timezone
from fontTools.ttLib import TTFont
from fpdf import FPDF

from concerto.rcp.models import PPS, CompteRendu

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
_FONT_FILES = {"": FONT_DIR / "DejaVuSans.ttf", "B": FONT_DIR / "DejaVuSans-Bold.ttf"}


@functools.cache
def _covered() -> frozenset[int]:
    """The code points both styles of the font can print."""
    maps = []
    for path in _FONT_FILES.values():
        with TTFont(path, lazy=True) as font:
            maps.append(set(font.getBestCmap()))
    return frozenset(set.intersection(*maps))


def printable(text: str) -> str:
    """``text`` with each character the font cannot print replaced by "?"; line breaks
    as the browser sends them (CR LF) kept as line breaks, tabs as spaces."""
    covered = _covered()
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return "".join(ch if ch == "\n" or ord(ch) in covered else "?" for ch in text)


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        for style, path in _FONT_FILES.items():
            self.add_font(FONT, style, path)
        self.doc_title = title
        self.set_title(printable(title))
        self.set_creator("Concerto")
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()
        self.set_font(FONT, "B", 15)
        self.multi_cell(0, 8, printable(title), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        footer = f"Concerto – {self.doc_title} – page {self.page_no()}"
        self.cell(0, 6, printable(footer), align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.multi_cell(0, 6, printable(text), new_x="LMARGIN", new_y="NEXT")

    def para(self, text: str) -> None:
        self.set_font(FONT, "", 10)
        self.multi_cell(0, 5, printable(text or "-"), new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str) -> None:
        self.set_font(FONT, "B", 10)
        self.multi_cell(0, 5, printable(label), new_x="LMARGIN", new_y="NEXT")
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
