"""Checklist items this version of the auditor does not check yet: "n/a", never a fake pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from revocable.audit.context import AuditContext
from revocable.audit.result import CheckResult

__all__ = ["not_implemented"]

_LATER = {
    "C2": "needs a headless browser to read localStorage/sessionStorage after a login",
}


def not_implemented(check_id: str) -> Callable[[AuditContext], Awaitable[CheckResult]]:
    """A check that reports "n/a: not implemented in this version" (code ``not_implemented``)."""

    async def check(ctx: AuditContext) -> CheckResult:
        return CheckResult.not_applicable(
            check_id,
            f"not implemented in this version of the auditor ({_LATER[check_id]})",
            code="not_implemented",
        )

    return check
