"""Knowledge search on SciFact (BEIR): quality, ingest and query speed; prints one JSON object.

Ingests the corpus into a fresh knowledge base with the bundled MiniLM encoder, scores
keyword, semantic and hybrid document search on the train queries (nDCG@10, Recall@100,
latency of single queries), times single hybrid chunk searches as an agent makes them
(``search_ms_p50``, default top_k), then ingests the unchanged corpus again: unchanged documents
are skipped by checksum before anything is encoded, so the second pass should take a small
fraction of the first. Runs on one thread (torch and FAISS), as a busy server would.

    python -m bench.knowledge [--data DIR] [--qrels qrels/train.tsv] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import faiss
import torch

from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.knowledge.evaluation import (
    COLLECTION,
    evaluate,
    evaluation_settings,
    ingest_corpus,
    load_dataset,
)
from smolit.knowledge.manager import KnowledgeManager
from smolit.knowledge.records import SEARCH_MODES
from smolit.stats import percentile

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def search_p50(manager: KnowledgeManager, texts: list[str]) -> float:
    """Median milliseconds of one hybrid ``search_sync`` (chunks, default top_k), as an agent
    asks."""
    latency = []
    for text in texts:
        started = time.perf_counter()
        manager.search_sync(COLLECTION, text)
        latency.append((time.perf_counter() - started) * 1000)
    return round(percentile(latency, 0.5, interpolate=True) or 0.0, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--qrels", default="qrels/train.tsv", help="relative to --data")
    parser.add_argument("--keep", type=Path, help="build the knowledge base here and keep it")
    args = parser.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    data: Path = args.data
    corpus, queries, qrels = load_dataset(
        data / "corpus.jsonl", data / "queries.jsonl", data / args.qrels
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smolit-bench-") as scratch:
        directory = args.keep or Path(scratch)
        manager = KnowledgeManager(
            evaluation_settings(len(corpus)), directory, SentenceTransformerEncoder
        )
        result = evaluate(manager, corpus, queries, qrels, SEARCH_MODES, progress)
        progress("timing single hybrid searches with the default top_k")
        result["search_ms_p50"] = search_p50(manager, [queries[q] for q in qrels])
        progress("ingesting the unchanged corpus again")
        again = ingest_corpus(manager, COLLECTION, corpus)
        manager.close()
    first = result["ingest_seconds"]
    result["reingest_seconds"] = round(again.seconds, 2)
    result["reingest_added"] = again.added
    result["reingest_speedup"] = round(first / again.seconds, 1) if again.seconds else None
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["threads"] = 1
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
