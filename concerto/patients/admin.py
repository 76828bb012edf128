from django.contrib import admin

from concerto.patients.models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "birth_name",
        "used_name",
        "first_names",
        "sex",
        "birth_date",
        "identity_status",
        "gp_name",
        "gp_rpps",
    ]
    list_filter = ["sex", "identity_status"]
    search_fields = ["birth_name", "used_name", "first_names", "ins_number", "gp_rpps"]
