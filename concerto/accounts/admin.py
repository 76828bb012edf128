from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from concerto.accounts import policy
from concerto.accounts.models import User
from concerto.lib.admin import TracedSaveAdmin


@admin.register(User)
class UserAdmin(TracedSaveAdmin, BaseUserAdmin):
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

    # Traced: an account's rights (staff, superuser, territories, RPPS: the patients its
    # holder sees as GP) change here.
    trail_action = "accounts.admin_{}"

    # A board's secretary adds members by searching the accounts (the members inline's
    # autocomplete), without the right to browse or change accounts.
    @staticmethod
    def _member_search(request: HttpRequest) -> bool:
        match = request.resolver_match
        return bool(
            match is not None
            and match.url_name == "autocomplete"
            and request.GET.get("app_label") == "rcp"
            and request.GET.get("model_name") == "boardmembership"
            and request.user.is_active
            and request.user.is_staff
            and policy.managed_boards(request.user).exists()
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or (
            obj is None and self._member_search(request)
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request)
        if not super().has_view_permission(request) and self._member_search(request):
            return queryset.filter(is_active=True)
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        if super().has_view_permission(request) or not self._member_search(request):
            return super().get_search_results(request, queryset, search_term)
        # A name to find, not a directory to page through nor an RPPS to probe.
        term = search_term.strip()
        if len(term) < 2:
            return queryset.none(), False
        found = queryset.filter(
            Q(last_name__icontains=term) | Q(first_name__icontains=term) | Q(username__iexact=term)
        )
        return found, False
