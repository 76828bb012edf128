from django.contrib import admin

from concerto.directory.models import Establishment, MSSanteAddress, Professional


@admin.register(Professional)
class ProfessionalAdmin(admin.ModelAdmin):
    list_display = ["rpps", "last_name", "first_name", "profession_label", "specialty_label"]
    search_fields = ["rpps", "last_name", "first_name"]
    list_filter = ["profession_label"]


@admin.register(MSSanteAddress)
class MSSanteAddressAdmin(admin.ModelAdmin):
    list_display = ["address", "kind", "rpps", "structure_name"]
    list_filter = ["kind"]
    search_fields = ["address", "rpps"]


@admin.register(Establishment)
class EstablishmentAdmin(admin.ModelAdmin):
    list_display = ["name", "finess", "city"]
    search_fields = ["name", "finess"]
