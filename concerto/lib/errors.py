"""Errors raised by actions."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ActionRefused(ValidationError):
    """The action is not allowed in the current state; the message says why, in French."""
