"""One module per checklist item or group; ``CHECKS`` maps each id to its check.

A check is ``async def check(ctx: AuditContext) -> CheckResult``. It returns
"n/a" with the reason when the target lacks what it needs; the runner turns an
``AuditError`` it raises (rate limited, budget spent, no answer) into a "warn"
for that item alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from revocable.audit.checks.cookie_flags import check_cookie_flags
from revocable.audit.checks.csrf import check_csrf
from revocable.audit.checks.methods import check_state_changing_gets
from revocable.audit.checks.refresh_rotation import check_refresh_rotation
from revocable.audit.checks.revocation import check_logout, check_logout_all
from revocable.audit.checks.session_ids import check_session_ids
from revocable.audit.checks.token_lifetime import check_access_token_lifetime
from revocable.audit.checks.web_storage import check_web_storage
from revocable.audit.context import AuditContext
from revocable.audit.result import CheckResult

__all__ = ["CHECKS", "RUN_ORDER", "Check"]

Check = Callable[[AuditContext], Awaitable[CheckResult]]

CHECKS: Mapping[str, Check] = {
    "C1": check_cookie_flags,
    "C2": check_web_storage,
    "C3": check_logout,
    "C4": check_logout_all,
    "C5": check_state_changing_gets,
    "C6": check_csrf,
    "C7": check_access_token_lifetime,
    "C8": check_refresh_rotation,
    "C9": check_session_ids,
}

RUN_ORDER: tuple[tuple[str, ...], ...] = (
    ("C1",),
    ("C3",),
    ("C4",),
    ("C5",),
    ("C6",),
    ("C2",),
    ("C7",),
    ("C8", "C9"),
)
"""Stages, one after the other; the checks of a stage run at once. C1 reads the first login;
C9 samples last, so a login rate limit starves it, not the rest; C8 runs alongside it, so
its wait past the refresh grace window costs no time of its own."""
