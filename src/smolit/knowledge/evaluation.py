"""Retrieval evaluation on a BEIR-format data set: nDCG@10, Recall@100, speed.

A BEIR data set is a corpus (JSON lines ``{"_id", "title", "text"}``), queries (JSON lines
``{"_id", "text"}``) and relevance judgments (TSV ``query-id corpus-id score`` with a
header line). ``run_evaluation`` ingests the corpus into a collection of a fresh
knowledge base in a temporary directory, with the real encoder, then ranks documents
(``KnowledgeManager.search_documents``) for every judged query in each search mode.

The metrics are those of BEIR (``pytrec_eval``): nDCG@10 with the judged score as gain
and ``log2(rank + 1)`` discount, and Recall@100 as the share of relevant documents (score
above zero) found in the top 100.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smolit.config import KnowledgeSettings
from smolit.encoding.base import TextEncoder
from smolit.errors import SmolitError, ValidationError
from smolit.knowledge.ingest import INGEST_BATCH
from smolit.knowledge.manager import KnowledgeManager
from smolit.knowledge.records import SEARCH_MODES, NewDocument, SearchMode
from smolit.stats import percentile

COLLECTION = "evaluation"
#: documents ranked per query: enough for Recall@100
RANKED = 100
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str


def _json_lines(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise ValidationError(f'{path}:{number}: expected an object with "_id"')
            yield row


def load_corpus(path: Path) -> list[BeirDocument]:
    return [
        BeirDocument(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _json_lines(path)
    ]


def load_queries(path: Path) -> dict[str, str]:
    return {str(row["_id"]): str(row.get("text") or "") for row in _json_lines(path)}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> document id -> judged score, from a TSV file with a header line."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        next(rows, None)
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) < 3:
                raise ValidationError(f"{path}:{number}: expected query-id, corpus-id, score")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError as exc:
                raise ValidationError(f"{path}:{number}: the score is not an integer") from exc
    return qrels


def ndcg_at_k(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of the first ``k`` of ``ranked``."""
    gains = sorted((score for score in judged.values() if score > 0), reverse=True)[:k]
    ideal = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
    if ideal == 0:
        return 0.0
    found = sum(
        max(judged.get(doc_id, 0), 0) / math.log2(rank + 2)
        for rank, doc_id in enumerate(ranked[:k])
    )
    return found / ideal


def recall_at_k(ranked: Sequence[str], judged: dict[str, int], k: int = 100) -> float:
    relevant = {doc_id for doc_id, score in judged.items() if score > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


@dataclass(frozen=True)
class IngestTiming:
    """``documents`` offered, ``added`` new to the collection, ``failed`` refused."""

    documents: int
    added: int
    failed: int
    seconds: float

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0


def ingest_corpus(
    manager: KnowledgeManager,
    collection: str,
    corpus: Sequence[BeirDocument],
    progress: Progress | None = None,
) -> IngestTiming:
    """Add every document (source: its id); unchanged ones are skipped by checksum."""
    failed = 0
    before = manager.stats(collection)["documents"]
    started = time.perf_counter()
    for start in range(0, len(corpus), INGEST_BATCH):
        batch = [
            NewDocument(document.title or document.id, document.text, document.id)
            for document in corpus[start : start + INGEST_BATCH]
        ]
        results = manager.add_documents(collection, batch)
        failed += sum(isinstance(result, SmolitError) for result in results)
        done = start + len(batch)
        if progress is not None and (done % 512 == 0 or done == len(corpus)):
            elapsed = time.perf_counter() - started
            progress(f"ingested {done}/{len(corpus)} documents ({done / elapsed:.1f}/s)")
    seconds = time.perf_counter() - started
    added = manager.stats(collection)["documents"] - before
    return IngestTiming(len(corpus), added, failed, seconds)


def evaluate_mode(
    manager: KnowledgeManager,
    collection: str,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    mode: SearchMode,
) -> dict[str, float]:
    """Mean nDCG@10 and Recall@100 over the judged queries, and query latency."""
    ndcg, recall, latency = [], [], []
    for query_id, judged in qrels.items():
        started = time.perf_counter()
        hits = manager.search_documents(collection, queries[query_id], RANKED, mode)
        latency.append((time.perf_counter() - started) * 1000)
        ranked = [hit.source for hit in hits]  # the source of a document is its BEIR id
        ndcg.append(ndcg_at_k(ranked, judged))
        recall.append(recall_at_k(ranked, judged, RANKED))
    return {
        "ndcg_at_10": round(statistics.fmean(ndcg), 4),
        "recall_at_100": round(statistics.fmean(recall), 4),
        "query_ms_p50": round(percentile(latency, 0.5, interpolate=True) or 0.0, 2),
        "query_ms_p95": round(percentile(latency, 0.95, interpolate=True) or 0.0, 2),
    }


def load_dataset(
    corpus_path: Path, queries_path: Path, qrels_path: Path
) -> tuple[list[BeirDocument], dict[str, str], dict[str, dict[str, int]]]:
    """The corpus, the queries, and the judgments of the queries that are in the file."""
    corpus = load_corpus(corpus_path)
    queries = load_queries(queries_path)
    qrels = {q: judged for q, judged in load_qrels(qrels_path).items() if q in queries}
    if not corpus or not qrels:
        raise ValidationError("the corpus is empty or no judged query is in the queries file")
    return corpus, queries, qrels


def evaluation_settings(documents: int) -> KnowledgeSettings:
    """The default settings, with room for ``documents``."""
    return KnowledgeSettings.model_validate({"max_documents": max(documents, 10_000)})


def run_evaluation(
    corpus_path: Path,
    queries_path: Path,
    qrels_path: Path,
    encoder_provider: Callable[[], TextEncoder],
    *,
    modes: Sequence[SearchMode] = SEARCH_MODES,
    directory: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest the corpus into a fresh knowledge base and score each search mode.

    The knowledge base lives in ``directory`` (kept) or else a temporary directory.
    """
    corpus, queries, qrels = load_dataset(corpus_path, queries_path, qrels_path)
    with tempfile.TemporaryDirectory(prefix="smolit-eval-") as scratch:
        settings = evaluation_settings(len(corpus))
        manager = KnowledgeManager(settings, directory or Path(scratch), encoder_provider)
        try:
            return evaluate(manager, corpus, queries, qrels, modes, progress)
        finally:
            manager.close()


def evaluate(
    manager: KnowledgeManager,
    corpus: list[BeirDocument],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    modes: Sequence[SearchMode],
    progress: Progress | None,
) -> dict[str, Any]:
    """Ingest ``corpus`` into ``manager``'s ``COLLECTION``, then score each mode."""
    if progress is not None:
        progress(f"ingesting {len(corpus)} documents into a temporary collection")
    # ingesting is batch work: every core; a query is measured as served: one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        timing = ingest_corpus(manager, COLLECTION, corpus, progress)
    finally:
        torch.set_num_threads(1)
    results: dict[str, Any] = {}
    try:
        for mode in modes:
            if progress is not None:
                progress(f"searching {len(qrels)} queries in {mode} mode")
            results[mode] = evaluate_mode(manager, COLLECTION, queries, qrels, mode)
    finally:
        torch.set_num_threads(threads)
    return {
        "modes": results,
        "documents": len(corpus),
        "failed_documents": timing.failed,
        "queries": len(qrels),
        "chunks": manager.stats(COLLECTION)["chunks"],
        "ingest_seconds": round(timing.seconds, 1),
        "ingest_docs_per_s": round(timing.docs_per_s, 2),
    }
