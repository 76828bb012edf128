"""A back-office page that shows rows and never writes them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from concerto.audit import trail


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete: the rows have one writer elsewhere (an action, an
    import, the trail itself). Viewing stays governed by the model's permissions
    unless a subclass says otherwise."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TracedSaveAdmin(admin.ModelAdmin):
    """Every save in the back office written to the trail with the fields changed, as
    ``trail_action`` with "change" or "add" in its braces."""

    trail_action = "admin.{}"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        trail.record(
            by=request.user,
            action=self.trail_action.format("change" if change else "add"),
            obj=obj,
            ip=request.META.get("REMOTE_ADDR"),
            details={"fields": sorted(form.changed_data)},
        )
