"""Account changes: linking a Pro Santé Connect login to a person, and the login trail.

Keyword-only arguments, one transaction, the audit event written inside it
(see :mod:`concerto.rcp.actions`). No patient data is ever logged here.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from concerto.accounts.models import User
from concerto.audit import trail
from concerto.audit.models import AuditEvent
from concerto.directory.models import Professional

log = logging.getLogger("concerto.accounts.login")


class AccountRefused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _claim_str(claims: dict[str, Any], key: str, limit: int) -> str:
    value = claims.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


def link_psc_login(*, sub: str, rpps: str, claims: dict[str, Any], ip: str | None) -> User:
    """:func:`_link_psc_login`, once more if a concurrent first login of the same person
    (two tabs, a double click) created the account meanwhile: that account is then used."""
    try:
        return _link_psc_login(sub=sub, rpps=rpps, claims=claims, ip=ip)
    except IntegrityError:
        return _link_psc_login(sub=sub, rpps=rpps, claims=claims, ip=ip)


@transaction.atomic
def _link_psc_login(*, sub: str, rpps: str, claims: dict[str, Any], ip: str | None) -> User:
    """The user for this PSC login; the account is created at the first login.

    An account that already holds this RPPS (opened by an administrator, or at an
    earlier login) is used; otherwise the directory (annuaire santé) must know the
    RPPS, and the account is created from its entry. ``sub`` is stored to recognise
    the person, never used as the RPPS.
    """
    user = User.objects.select_for_update().filter(rpps=rpps).first()
    professional = Professional.objects.filter(rpps=rpps).first()
    if user is None and professional is None:
        # Neither an account opened by an administrator nor a directory entry.
        raise AccountRefused("unknown_professional")
    by_sub = User.objects.filter(psc_sub=sub).exclude(rpps=rpps).first()
    if by_sub is not None:
        # The same PSC subject once logged in as someone else: never merge silently.
        raise AccountRefused("identity_inconsistent", "sub_bound_to_other_rpps")
    created = False
    if user is None:
        assert professional is not None
        user = User(
            username=f"psc-{rpps}",
            rpps=rpps,
            psc_sub=sub,
            last_name=professional.last_name or _claim_str(claims, "family_name", 150),
            first_name=professional.first_name or _claim_str(claims, "given_name", 150),
            specialty=professional.specialty_label[:120],
        )
        user.set_unusable_password()
        # (Uniqueness is left to the database: a concurrent first login is caught above.)
        user.full_clean(exclude=["password"], validate_unique=False)
        user.save()
        created = True
    else:
        if not user.is_active:
            raise AccountRefused("account_disabled")
        if user.psc_sub != sub:
            if user.psc_sub:
                log.warning("psc_sub changed for user id=%s", user.pk)
            user.psc_sub = sub
            user.save(update_fields=["psc_sub"])
    if created:
        trail.record(by=user, action="accounts.user_created", obj=user, ip=ip)
    return user


def record_login(
    *,
    user: User | None,
    method: str,
    ok: bool,
    ip: str | None,
    reason: str = "",
    detail: str = "",
) -> None:
    """Every login attempt, accepted or refused, in the audit trail and the log."""
    details = {"method": method}
    if reason:
        details["reason"] = reason
    if detail:
        details["detail"] = detail[:80]
    trail.record(
        by=user,
        action="accounts.login" if ok else "accounts.login_refused",
        obj=user,
        outcome=AuditEvent.Outcome.OK if ok else AuditEvent.Outcome.DENIED,
        ip=ip,
        details=details,
    )
    if ok:
        log.info("login ok method=%s user_id=%s ip=%s", method, getattr(user, "pk", None), ip)
    else:
        log.warning("login refused method=%s reason=%s detail=%s ip=%s", method, reason, detail, ip)


def record_logout(*, user: User | None, ip: str | None) -> None:
    trail.record(by=user, action="accounts.logout", obj=user, ip=ip)
    log.info("logout user_id=%s ip=%s", getattr(user, "pk", None), ip)


@transaction.atomic
def grant_admin(
    *, by: User | None, rpps: str, regional: bool, territories: list[Any]
) -> tuple[User, bool]:
    """Make the professional with this RPPS an administrator (regional, or of territories).

    The account is created from the directory entry when missing, so the first
    administrator of a production deployment can log in through Pro Santé Connect.
    Returns the user and whether the account was created.
    """
    user = User.objects.select_for_update().filter(rpps=rpps).first()
    created = False
    if user is None:
        professional = Professional.objects.filter(rpps=rpps).first()
        if professional is None:
            raise AccountRefused("unknown_professional")
        user = User(
            username=f"psc-{rpps}",
            rpps=rpps,
            last_name=professional.last_name,
            first_name=professional.first_name,
            specialty=professional.specialty_label[:120],
        )
        user.set_unusable_password()
        # (Uniqueness is left to the database: a concurrent first login is caught above.)
        user.full_clean(exclude=["password"], validate_unique=False)
        user.save()
        created = True
    user.is_staff = True
    if regional:
        user.is_regional_admin = True
        user.is_superuser = True
    user.save(update_fields=["is_staff", "is_regional_admin", "is_superuser"])
    if territories:
        user.admin_territories.add(*territories)
    trail.record(
        by=by,
        action="accounts.admin_granted",
        obj=user,
        details={
            "regional": regional,
            "territories": sorted(t.slug for t in territories),
            "created": created,
        },
    )
    return user, created
