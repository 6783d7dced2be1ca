"""The keyword side of the store: FTS5 tables over chunks and whole documents, and filters.

``chunks_fts`` holds, per chunk, its document's title and its text (porter stemming), kept
in step with ``chunks`` and ``documents`` by triggers. ``documents_fts`` holds, per
document, its title and its whole text: BM25 is made for whole documents (its length
normalisation compares a document with the average one), and the chunks exist only because
the encoder reads a limited window; document search ranks the keyword side with it. BM25
weighs a title match ``TITLE_WEIGHT`` times a text match: a title says in a few words what
the whole document is about (BM25F-style field weighting, as search engines boost titles
by default). Databases made before the title column or the document index existed are
upgraded in place by ``upgrade_fulltext``, which builds them from ``chunks``.

Metadata filters are turned into SQL here too: ``document_filter`` maps
``{"language": "en", "source_prefix": "docs/"}`` onto a condition on ``documents``.
"""

from __future__ import annotations

import re
import sqlite3

from smolit.errors import ValidationError

#: at most this many distinct terms of a query go to the keyword index
MAX_QUERY_TERMS = 32
#: BM25 weight of a title match, relative to a match in the text
TITLE_WEIGHT = 2.0
#: marks around the query terms in highlights
MARK_OPEN, MARK_CLOSE = "**", "**"
#: the most tokens of a highlight fragment
HIGHLIGHT_TOKENS = 24
#: the filter key that matches the beginning of the source rather than all of it
SOURCE_PREFIX = "source_prefix"

_STATEMENTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 ("
    "title, text, tokenize = 'porter unicode61')",
    """CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (rowid, title, text) VALUES (
            new.id,
            COALESCE((SELECT title FROM documents WHERE id = new.document_id), ''),
            new.text
        );
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_fts_title AFTER UPDATE OF title ON documents BEGIN
        UPDATE chunks_fts SET title = new.title
        WHERE rowid IN (SELECT id FROM chunks WHERE document_id = new.id);
    END""",
)
#: the whole-document index: ``documents_fts`` rows are keyed by ``document_keys.key`` (a
#: stable integer; a document's own id is text); ``KnowledgeStore.save_document`` writes
#: them, and deleting a document deletes them
_DOCUMENT_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS document_keys ("
    "key INTEGER PRIMARY KEY, document_id TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5 ("
    "title, text, tokenize = 'porter unicode61')",
    """CREATE TRIGGER IF NOT EXISTS documents_fts_delete AFTER DELETE ON documents BEGIN
        DELETE FROM documents_fts
        WHERE rowid = (SELECT key FROM document_keys WHERE document_id = old.id);
        DELETE FROM document_keys WHERE document_id = old.id;
    END""",
)

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: filter keys that are columns of ``documents``; any other key is looked up in metadata
_COLUMNS = {"source": "d.source", "title": "d.title"}


def query_terms(text: str) -> list[str]:
    """The distinct words of ``text``, lower-cased, in order."""
    return list(dict.fromkeys(term.lower() for term in re.findall(r"\w+", text)))


def fts_match(terms: list[str]) -> str | None:
    """An FTS5 query of the quoted ``terms`` OR-ed together; None when there are none.

    Quoting makes every FTS5 operator (``"``, ``*``, ``NEAR``, ``AND``, ``-``, brackets)
    a plain word, so no user query is an FTS5 syntax error.
    """
    return " OR ".join(f'"{term}"' for term in terms[:MAX_QUERY_TERMS]) or None


class TermCounts:
    """How many rows of the FTS table hold each term, remembered until the table changes.

    FTS5's BM25 gives a term in half or more of the rows an IDF of zero (clamped to 1e-6),
    so such a term (``the``, ``of``) changes no ranking, yet makes every row a match whose
    score must be computed. ``informative`` leaves those terms out of the query, and the
    terms in no row at all.
    """

    #: forget all counts once this many terms are remembered
    MAX_TERMS = 100_000

    def __init__(self) -> None:
        self._version: object = None
        self._rows = 0
        self._counts: dict[str, int] = {}
        self._sole: dict[str, bool] = {}

    def _check(self, db: sqlite3.Connection, version: object) -> None:
        if version != self._version or len(self._counts) > self.MAX_TERMS:
            self._counts.clear()
            self._sole.clear()
            (self._rows,) = db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()
            self._version = version

    def sole_collection(self, db: sqlite3.Connection, collection: str, version: object) -> bool:
        """True when every row of the FTS table is a chunk of ``collection``."""
        self._check(db, version)
        if collection not in self._sole:
            (rows,) = db.execute(
                "SELECT COUNT(*) FROM chunks WHERE collection = ?", (collection,)
            ).fetchone()
            self._sole[collection] = rows == self._rows
        return self._sole[collection]

    def informative(self, db: sqlite3.Connection, terms: list[str], version: object) -> list[str]:
        """``terms`` in some rows but fewer than half; else those in any row (maybe none)."""
        self._check(db, version)
        for term in terms:
            if term not in self._counts:
                (self._counts[term],) = db.execute(
                    "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',)
                ).fetchone()
        present = [term for term in terms if self._counts[term] > 0]
        return [term for term in present if 2 * self._counts[term] < self._rows] or present


def upgrade_fulltext(db: sqlite3.Connection) -> None:
    """Create the FTS tables, atomically: rebuild a chunk index made before it had a title
    column, and fill a new whole-document index from the stored chunks."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()
    rebuild = row is not None and "title" not in row[0]
    documents_new = (
        db.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents_fts'").fetchone() is None
    )
    db.execute("BEGIN IMMEDIATE")
    try:
        if rebuild:
            for trigger in ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_title"):
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            db.execute("DROP TABLE chunks_fts")
        for statement in _STATEMENTS + _DOCUMENT_STATEMENTS:
            db.execute(statement)
        if rebuild:
            db.execute(
                "INSERT INTO chunks_fts (rowid, title, text) SELECT c.id, d.title, c.text "
                "FROM chunks AS c JOIN documents AS d ON d.id = c.document_id"
            )
        if documents_new:  # made before the whole-document index: its text is its chunks
            db.execute("INSERT INTO document_keys (document_id) SELECT id FROM documents")
            db.execute(
                "INSERT INTO documents_fts (rowid, title, text) SELECT k.key, d.title, ("
                "SELECT group_concat(text, ' ') FROM ("
                "SELECT c.text FROM chunks AS c WHERE c.document_id = d.id ORDER BY c.position)"
                ") FROM document_keys AS k JOIN documents AS d ON d.id = k.document_id"
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def document_filter(filters: dict[str, str] | None) -> tuple[str, list[str]]:
    """An SQL condition on ``documents AS d`` for ``filters``, and its arguments.

    Every key must match: ``source`` and ``title`` compare with those columns,
    ``source_prefix`` with the start of the source, and any other key with the value
    of that key in the document's metadata (compared as text). No filters: ``1``.
    """
    conditions, args = [], []
    for key, value in (filters or {}).items():
        if not isinstance(value, str):
            raise ValidationError(
                f"the value of filter {key!r} must be a string", details={"filter": key}
            )
        if key == SOURCE_PREFIX:
            conditions.append("substr(d.source, 1, length(?)) = ?")
            args += [value, value]
        elif key in _COLUMNS:
            conditions.append(f"{_COLUMNS[key]} = ?")
            args.append(value)
        elif _FILTER_KEY.fullmatch(key):
            conditions.append("CAST(json_extract(d.metadata, ?) AS TEXT) = ?")
            args += [f'$."{key}"', value]
        else:
            raise ValidationError(
                f"invalid filter key {key!r}: use letters, digits, '_', '.' or '-'",
                details={"filter": key},
            )
    return " AND ".join(conditions) or "1", args
