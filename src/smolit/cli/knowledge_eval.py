"""``smolit knowledge eval``: retrieval quality and speed on a BEIR-format data set.

Runs locally, without a server: the corpus goes into a temporary knowledge base, embedded
with the real encoder. Progress goes to stderr; the result is one JSON object (``--json``)
or a table.

The encoder, the caches and the knowledge base load torch and FAISS: they are imported when
the command runs, so that every other ``smolit`` command starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smolit.cli import output
from smolit.cli.options import HomeOption, JsonOption
from smolit.config import KnowledgeSettings, load_settings, process_environment
from smolit.errors import ValidationError

if TYPE_CHECKING:
    from smolit.knowledge.records import SearchMode

#: the knowledge base's default encoder, the bundled all-MiniLM-L6-v2
DEFAULT_ENCODER: str = KnowledgeSettings.model_fields["embedding_model"].default


def _progress(message: str) -> None:
    output.errors.print(message, markup=False)


def eval_command(
    corpus: Annotated[
        Path, typer.Option("--corpus", help="corpus.jsonl: {_id, title, text} per line")
    ],
    queries: Annotated[Path, typer.Option("--queries", help="queries.jsonl: {_id, text}")],
    qrels: Annotated[
        Path, typer.Option("--qrels", help="judgments TSV: query-id corpus-id score, header")
    ],
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="search mode to score (repeatable; default: all three)"),
    ] = None,
    embedding_model: Annotated[
        str, typer.Option("--embedding-model", help="encoder name or local directory")
    ] = DEFAULT_ENCODER,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Score keyword, semantic and hybrid search: nDCG@10, Recall@100, ingest and query speed."""
    from smolit.cache import CacheManager
    from smolit.encoding.sentence import SentenceTransformerEncoder
    from smolit.knowledge.evaluation import run_evaluation
    from smolit.knowledge.records import SEARCH_MODES
    from smolit.security.deployment_key import deployment_key_source

    for path in (corpus, queries, qrels):
        if not path.is_file():
            raise ValidationError(f"{path}: no such file", details={"path": str(path)})
    modes: list[SearchMode] = []
    for name in mode or SEARCH_MODES:
        if name not in SEARCH_MODES:
            raise ValidationError(
                f"unknown search mode {name!r} (use one of: {', '.join(SEARCH_MODES)})"
            )
        modes.append(name)
    settings = load_settings(None, home)
    cache = CacheManager.from_settings(
        settings, key=deployment_key_source(settings, process_environment())
    )
    try:
        # the embedding cache under SMOLIT_HOME makes a second run on the same corpus fast
        result = run_evaluation(
            corpus,
            queries,
            qrels,
            lambda: cache.cached_encoder(SentenceTransformerEncoder(embedding_model)),
            modes=modes,
            progress=_progress,
        )
    finally:
        cache.close()
    if json:
        output.emit_json(result)
        return
    output.line(
        f"{result['documents']} documents ({result['chunks']} chunks) at "
        f"{result['ingest_docs_per_s']} documents/s, {result['queries']} queries"
    )
    output.table(
        ["mode", "nDCG@10", "Recall@100", "p50 ms", "p95 ms"],
        [
            [
                name,
                f"{scores['ndcg_at_10']:.4f}",
                f"{scores['recall_at_100']:.4f}",
                f"{scores['query_ms_p50']:.1f}",
                f"{scores['query_ms_p95']:.1f}",
            ]
            for name, scores in result["modes"].items()
        ],
    )
