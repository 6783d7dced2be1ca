"""Backup and restore of a data directory with SciFact ingested; prints one JSON object.

Prepares a data directory as ``smolit serve`` lays it out (``smolit.yaml``, the migrated
SQLite database, the knowledge base in ``indexes/knowledge``) with the SciFact corpus
ingested into the collection ``scifact`` by the real ``KnowledgeManager`` and the bundled
MiniLM encoder, then times, ``--runs`` times each and reports the median of:

- ``create_s``: ``BackupManager.create`` (what ``python -m smolit.backup create`` runs):
  online snapshots of the database and the knowledge SQLite files, the manifest of
  checksums, tar.gz, and AES-GCM when encrypted;
- ``verify_s``: ``verify``: decrypt, unpack, check every checksum;
- ``restore_s``: ``restore`` into a fresh, empty data directory (the archive copied into
  its ``backups``; the copy is not timed): the same checks, then the data put in place.
  The directory being measured is never overwritten, so ``--home`` may name real data.

once without a key (``plain``) and once with ``system.backup_key_env`` naming a random key
(``encrypted``), with ``archive_bytes`` of each and ``data_bytes``, the size of the data
directory without its ``backups``. ``restored_documents`` counts the documents the last
restored knowledge base holds (it must equal ``documents``). Ingesting the whole corpus
takes 10+ minutes of CPU: ``--limit N`` ingests the first N documents; ``--home DIR``
reuses a data directory and skips ingesting when it already holds the documents. Torch
and FAISS run on one thread.

A knowledge base that ``python -m bench.knowledge --keep DIR`` left (collection
``evaluation``) can stand in for the ingest: copy DIR to ``HOME/indexes/knowledge`` and
pass ``--home HOME --collection evaluation``.

    python -m bench.backup [--home DIR] [--collection NAME] [--limit N] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import faiss
import torch
from tests.conftest import free_port

from smolit.backup import BackupManager
from smolit.config import CONFIG_FILE_NAME, Settings, load_settings
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.knowledge.evaluation import ingest_corpus, load_corpus
from smolit.knowledge.manager import KnowledgeManager
from smolit.storage import Database

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
DEFAULT_COLLECTION = "scifact"
KEY_ENV = "SMOLIT_BENCH_BACKUP_KEY"
T = TypeVar("T")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_config(home: Path) -> None:
    """A configuration of its own (kept when there is one): a port nothing serves on, so
    that restore's check for a live server on this data finds none."""
    config = home / CONFIG_FILE_NAME
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(f"server: {{port: {free_port()}}}\n", encoding="utf-8")


def prepare(home: Path, corpus_path: Path, limit: int | None, collection: str) -> dict[str, Any]:
    """Migrate the database and ingest the corpus, unless the collection already holds it."""
    write_config(home)
    settings = load_settings(None, home)
    database = Database(settings.database_url)
    database.migrate()
    database.dispose()
    corpus = load_corpus(corpus_path)[:limit]
    manager = KnowledgeManager(
        settings.knowledge, settings.knowledge_dir, SentenceTransformerEncoder
    )
    try:
        ingest_seconds = None
        if manager.stats(collection)["documents"] < len(corpus):
            progress(f"ingesting {len(corpus)} documents into {settings.knowledge_dir}")
            timing = ingest_corpus(manager, collection, corpus, progress)
            ingest_seconds = round(timing.seconds, 1)
        stats = manager.stats(collection)
    finally:
        manager.close()
    return {
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "ingest_seconds": ingest_seconds,
    }


def tree_bytes(root: Path, skip: str = "backups") -> int:
    return sum(
        path.stat().st_size
        for path in root.rglob("*")
        if path.is_file() and skip not in path.relative_to(root).parts
    )


def with_key(settings: Settings) -> Settings:
    system = settings.system.model_copy(update={"backup_key_env": KEY_ENV})
    return settings.model_copy(update={"system": system})


def timed(action: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Seconds ``action(*args)`` took, and what it returned."""
    started = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - started, result


def measure(home: Path, scratch: Path, runs: int, encrypted: bool) -> dict[str, Any]:
    """Median seconds of create, verify and restore (into a fresh data directory)."""
    environ: Mapping[str, str] = {}
    source = load_settings(None, home)
    if encrypted:
        environ = {KEY_ENV: base64.b64encode(os.urandom(32)).decode()}
        source = with_key(source)
    seconds: dict[str, list[float]] = {"create_s": [], "verify_s": [], "restore_s": []}
    archive_bytes = 0
    for run in range(1, runs + 1):
        progress(f"{'encrypted' if encrypted else 'plain'} run {run}/{runs}")
        manager = BackupManager(source, environ)
        took, info = timed(manager.create)
        seconds["create_s"].append(took)
        archive_bytes = info.size_bytes
        took, _ = timed(manager.verify, info.id)
        seconds["verify_s"].append(took)
        target = scratch / "restored"
        shutil.rmtree(target, ignore_errors=True)
        write_config(target)
        (target / "backups").mkdir()
        shutil.copy2(info.path, target / "backups" / info.path.name)
        restored = load_settings(None, target)
        restorer = BackupManager(with_key(restored) if encrypted else restored, environ)
        took, _ = timed(restorer.restore, info.id)
        seconds["restore_s"].append(took)
        info.path.unlink()
    result: dict[str, Any] = {"archive_bytes": archive_bytes}
    for name, values in seconds.items():
        result[name] = round(statistics.median(values), 3)
        result[f"{name}_all"] = [round(v, 3) for v in values]
    return result


def restored_documents(home: Path, collection: str) -> int:
    settings = load_settings(None, home)
    manager = KnowledgeManager(
        settings.knowledge, settings.knowledge_dir, SentenceTransformerEncoder
    )
    try:
        return manager.stats(collection)["documents"]
    finally:
        manager.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="holds corpus.jsonl")
    parser.add_argument("--home", type=Path, help="the data directory to use (and keep)")
    parser.add_argument("--limit", type=int, help="ingest only the first N documents")
    parser.add_argument(
        "--collection",
        default=DEFAULT_COLLECTION,
        help="the collection that holds the corpus (a knowledge base copied in from "
        "`python -m bench.knowledge --keep DIR` holds it in `evaluation`)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    home: Path = args.home or Path(tempfile.mkdtemp(prefix="smolit-bench-backup-"))
    scratch = Path(tempfile.mkdtemp(prefix="smolit-bench-restore-"))
    try:
        result = {
            "home": str(home),
            **prepare(home, args.data / "corpus.jsonl", args.limit, args.collection),
        }
        result["data_bytes"] = tree_bytes(home)
        result["runs"] = args.runs
        result["plain"] = measure(home, scratch, args.runs, encrypted=False)
        result["encrypted"] = measure(home, scratch, args.runs, encrypted=True)
        result["restored_documents"] = restored_documents(scratch / "restored", args.collection)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.home is None and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["threads"] = 1
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
