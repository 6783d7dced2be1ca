"""``python -m smolit.backup encrypt``: turn encryption at rest on for existing data.

With ``security.encryption_key_env`` (or ``encryption_key_file``) newly set, the plain
SQLite files (the database, the knowledge base) are exported into encrypted copies
(``sqlcipher_export``) that replace them, plain uploads are sealed, and what can be made
again is removed instead: the vector indexes (rebuilt from the knowledge base on first
search) and the embedding cache. Run it with no server or worker on the data directory.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from smolit.backup.archive import SQLITE_SIDE_FILES, SQLITE_SUFFIXES
from smolit.config import Settings
from smolit.security.atrest import AtRestKeys
from smolit.security.envelope import FILE_MAGIC, is_sealed, seal
from smolit.storage import sqlcipher
from smolit.storage.private import private_file, write_private

logger = logging.getLogger(__name__)

#: the embedding cache under the data directory (``cache.manager.embeddings_dir``)
EMBEDDINGS = Path("cache") / "embeddings"
#: the vector indexes beside the knowledge base (``knowledge.store.INDEX_DIRECTORY``)
INDEXES = "indexes"


def encrypt_database(path: Path, key: bytes) -> bool:
    """Replace the plain database ``path`` by an encrypted copy; False when it is not
    plain (already encrypted, or missing)."""
    if sqlcipher.state(path) != "plain":
        return False
    encrypted = path.with_name(f".{path.name}.encrypting")
    encrypted.unlink(missing_ok=True)
    private_file(encrypted)
    sqlcipher.export_encrypted(path, encrypted, key)
    # the export read the WAL too; a stale WAL must not meet the new file
    for suffix in SQLITE_SIDE_FILES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(encrypted, path)
    return True


def _databases(settings: Settings) -> list[Path]:
    found = []
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        found.append(Path(url.database))
    if settings.knowledge_dir.is_dir():
        found.extend(
            path
            for path in sorted(settings.knowledge_dir.rglob("*"))
            if path.suffix in SQLITE_SUFFIXES and path.is_file()
        )
    return found


def _seal_uploads(directory: Path, key: bytes) -> list[str]:
    sealed = []
    for path in sorted(directory.rglob("*")) if directory.is_dir() else []:
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            if not is_sealed(data, FILE_MAGIC):
                write_private(path, seal(data, key))
                sealed.append(str(path))
    return sealed


def encrypt_installation(settings: Settings, keys: AtRestKeys) -> list[str]:
    """Encrypt the data of ``settings.home`` in place; the files it changed or removed."""
    changed = [str(p) for p in _databases(settings) if encrypt_database(p, keys.database)]
    changed += _seal_uploads(settings.uploads_dir, keys.files)
    indexes = settings.knowledge_dir / INDEXES
    for path in sorted(indexes.glob("*")) if indexes.is_dir() else []:
        if path.is_file() and not is_sealed(path.read_bytes()[:8], FILE_MAGIC):
            path.unlink()
            changed.append(str(path))
    embeddings = settings.home / EMBEDDINGS
    if embeddings.is_dir():
        shutil.rmtree(embeddings)
        changed.append(str(embeddings))
    for name in changed:
        logger.info("encryption at rest: %s", name)
    return changed
