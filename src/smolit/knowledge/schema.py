"""The knowledge base's tables, and the upgrade of a file of any earlier version.

``documents`` and ``chunks`` (with each chunk's embedding) hold what was ingested, ``sources``
and ``source_items`` what is synced from where (``source_store``); the full-text tables and
their triggers are ``fulltext``'s.
"""

from __future__ import annotations

import sqlite3

from smolit.knowledge.fulltext import upgrade_fulltext

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_source ON documents (collection, source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents (id),
    collection TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_collection ON chunks (collection, id);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    include TEXT NOT NULL DEFAULT '[]',
    exclude TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    sync_started TEXT,
    sync_finished TEXT,
    error TEXT,
    report TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS sources_location ON sources (collection, location);
CREATE TABLE IF NOT EXISTS source_items (
    source_id TEXT NOT NULL REFERENCES sources (id),
    item TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    checksum TEXT,
    etag TEXT,
    last_modified TEXT,
    PRIMARY KEY (source_id, item)
);
"""

#: columns added to existing tables since the first release: (table, column, definition)
_ADDED_COLUMNS = (
    ("documents", "source_id", "TEXT"),
    ("documents", "origin", "TEXT"),
)
_UPGRADE = "CREATE INDEX IF NOT EXISTS documents_source_id ON documents (source_id, origin);"


def upgrade_schema(db: sqlite3.Connection) -> None:
    """Bring a knowledge base of any earlier version up to this one, in place."""
    db.executescript(_SCHEMA)
    for table, column, definition in _ADDED_COLUMNS:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    db.executescript(_UPGRADE)
    upgrade_fulltext(db)
