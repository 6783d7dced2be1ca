"""Write the .env file docker-compose.yml reads: random Redis and PostgreSQL passwords.

Created once, readable by its owner only (0600, O_EXCL: never through a link placed
there); an existing file is kept, since PostgreSQL keeps the first password in its
volume. `make compose-env` runs this; .env is in .gitignore and .dockerignore.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

NAMES = ("REDIS_PASSWORD", "POSTGRES_PASSWORD")


def write_env(path: Path) -> bool:
    """Write ``path`` unless it exists; whether it was written."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.writelines(f"{name}={secrets.token_urlsafe(32)}\n" for name in NAMES)
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".env")
    if write_env(path):
        sys.stdout.write(f"wrote {path} (mode 0600): {', '.join(NAMES)}\n")
    else:
        sys.stdout.write(f"{path} exists: its passwords are kept\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
