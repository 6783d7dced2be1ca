"""The key that seals backups: ``system.backup_key_env``, else one derived from the
at-rest key (``security.encryption_key_env`` / ``encryption_key_file``), else none.

Archives are sealed with the AES-GCM envelope of ``smolit.security.envelope`` (the one
implementation, shared with uploads and vector indexes) under their own magic string.
"""

from __future__ import annotations

from collections.abc import Mapping

from smolit.config import Settings
from smolit.security.atrest import key_from_environment, load_at_rest_keys

MAGIC = b"SMOLBK1\n"
#: the settings whose key makes backups encrypted, for messages
KEY_RULE = "system.backup_key_env (or security.encryption_key_env/encryption_key_file)"


def load_backup_key(settings: Settings, environ: Mapping[str, str]) -> bytes | None:
    variable = settings.system.backup_key_env
    if variable is None:
        keys = load_at_rest_keys(settings, environ)
        return keys.backup if keys else None
    return key_from_environment("system.backup_key_env", variable, environ)
