from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from concerto.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "last_name",
        "first_name",
        "rpps",
        "specialty",
        "is_registrar",
        "is_staff",
    ]
    search_fields = ["username", "last_name", "first_name", "rpps"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            "Concerto",
            {  # type: ignore[misc]
                "fields": [
                    "rpps",
                    "psc_sub",
                    "specialty",
                    "is_registrar",
                    "is_regional_admin",
                    "admin_territories",
                ]
            },
        ),
    )
