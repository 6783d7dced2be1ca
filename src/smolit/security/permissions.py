"""Privileged actions: what only the roles in ``security.privileged_roles`` may do.

One function decides, so every way in (the API, the CLI through it, the Python API) is
refused the same way: a 403 whose message names the setting, logged for the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from smolit.errors import PermissionDeniedError
from smolit.security.tokens import Principal

logger = logging.getLogger(__name__)

RULE = "security.privileged_roles"


def require_privilege(principal: Principal, roles: Sequence[str], action: str) -> None:
    """Refuse ``action`` (e.g. "priority 'high'") unless the principal's role is in ``roles``."""
    if principal.role in roles:
        return
    logger.warning(
        "refused %s to user %s (role %s): not in %s %s",
        action,
        principal.user,
        principal.role,
        RULE,
        list(roles),
    )
    raise PermissionDeniedError(
        f"{action} needs one of the roles in {RULE} ({', '.join(roles) or 'none'}); "
        f"your role is {principal.role!r}",
        details={"rule": RULE, "roles": list(roles), "role": principal.role},
    )
