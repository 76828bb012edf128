"""The RCP pages, under /rcp/."""

from django.urls import path

from concerto.patients import views as patient_views
from concerto.rcp.views import boards, decisions, registrations, statistics

app_name = "rcp"
urlpatterns = [
    path("", boards.home, name="home"),
    # Boards and sessions
    path("rcp/<int:pk>/", boards.board_detail, name="board"),
    path("rcp/<int:pk>/webconference/", boards.board_webconference, name="board-webconference"),
    path("rcp/<int:pk>/accord/", boards.board_consent, name="board-consent"),
    path("rcp/<int:pk>/notification/", boards.board_notifications, name="board-notifications"),
    path("rcp/<int:pk>/seances/", boards.board_sessions, name="board-sessions"),
    path("seances/<int:pk>/", boards.session_detail, name="session"),
    path("seances/<int:pk>/annuler/", boards.session_cancel, name="session-cancel"),
    path("seances/<int:pk>/deplacer/", boards.session_move, name="session-move"),
    path("seances/<int:pk>/tenue/", boards.session_held, name="session-held"),
    # Registration: find or create the patient, then the pre-fiche
    path("inscrire/", patient_views.search, name="patient-search"),
    path("inscrire/nouveau-patient/", patient_views.create, name="patient-create"),
    path("inscrire/patient/<int:patient_pk>/", registrations.register, name="register"),
    path("inscriptions/<int:pk>/", registrations.registration_detail, name="registration"),
    path("inscriptions/<int:pk>/pre-fiche/", registrations.prefiche_edit, name="prefiche-edit"),
    path(
        "inscriptions/<int:pk>/complete/",
        registrations.registration_complete,
        name="registration-complete",
    ),
    path(
        "inscriptions/<int:pk>/retirer/",
        registrations.registration_withdraw,
        name="registration-withdraw",
    ),
    path(
        "inscriptions/<int:pk>/deplacer/", registrations.registration_move, name="registration-move"
    ),
    path(
        "inscriptions/<int:pk>/representer/",
        registrations.registration_represent,
        name="registration-represent",
    ),
    path(
        "inscriptions/<int:pk>/medecin-traitant/",
        registrations.declared_gp,
        name="registration-gp",
    ),
    path("inscriptions/<int:pk>/documents/", registrations.document_upload, name="document-upload"),
    path("documents/<int:pk>/", registrations.document_download, name="document-download"),
    path("cim10/", registrations.cim10_search, name="cim10-search"),
    path("annuaire/medecins/", registrations.gp_search, name="gp-search"),
    # Decision, compte-rendu, PPS
    path("inscriptions/<int:pk>/decision/", decisions.decision, name="decision"),
    path("comptes-rendus/<int:pk>/", decisions.compte_rendu_detail, name="compte-rendu"),
    path("comptes-rendus/<int:pk>/pdf/", decisions.compte_rendu_pdf, name="compte-rendu-pdf"),
    path("comptes-rendus/<int:pk>/pps/", decisions.pps_create, name="pps-create"),
    path("pps/<int:pk>/pdf/", decisions.pps_pdf, name="pps-pdf"),
    # Statistics for the 3C
    path("statistiques/", statistics.statistics, name="statistics"),
    path("statistiques/export.csv", statistics.statistics_csv, name="statistics-csv"),
]
