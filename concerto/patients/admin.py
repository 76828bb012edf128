from django.contrib import admin

from concerto.patients.models import Patient
from concerto.rcp.admin import PatientDataAdmin


@admin.register(Patient)
class PatientAdmin(PatientDataAdmin):
    """Read-only, superusers only; no search by name or INS (it would travel in the URL)."""

    list_display = [
        "birth_name",
        "used_name",
        "first_names",
        "sex",
        "birth_date",
        "identity_status",
        "gp_rpps",
    ]
    list_filter = ["sex", "identity_status"]
