"""``smolit knowledge ...``: the collections, sources and documents of a running server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from smolit.cli import output
from smolit.cli.client import call
from smolit.cli.knowledge_eval import eval_command
from smolit.cli.options import JsonOption, TokenOption, UrlOption
from smolit.errors import ValidationError

app = typer.Typer(
    help="Manage knowledge collections: sources (files, directories, URLs), sync, search.",
    no_args_is_help=True,
)

Collection = Annotated[str, typer.Argument(help="collection name")]
#: a sync encodes every changed document, so it may take a while
SYNC_TIMEOUT = 3600


def _report_line(report: dict[str, Any] | None) -> str:
    if not report:
        return "-"
    return (
        f"+{report['added']} ~{report['updated']} ={report['unchanged']} "
        f"-{report['removed']} !{len(report['errors'])}"
    )


def _print_report(report: dict[str, Any]) -> None:
    output.line(
        f"  {report['added']} added, {report['updated']} updated, "
        f"{report['unchanged']} unchanged, {report['removed']} removed, "
        f"{len(report['errors'])} errors"
    )
    for problem in report["errors"]:
        output.line(f"  error: {problem['path']}: {problem['message']}")
    for note in report.get("warnings", []):
        output.line(f"  note: {note['path']}: {note['message']}")


def _print_source(source: dict[str, Any]) -> None:
    output.line(
        f"source {source['id']} ({source['kind']}) {source['location']}: {source['status']}"
    )
    if source.get("error"):
        output.line(f"  {source['error']}")


@app.command("add-source")
def add_source(
    collection: Collection,
    location: Annotated[str, typer.Argument(help="a file, a directory, or an http(s) URL")],
    include: Annotated[
        list[str] | None, typer.Option("--include", help="glob of files to take (repeatable)")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="glob of files to skip (repeatable)")
    ] = None,
    sync: Annotated[bool, typer.Option("--sync/--no-sync", help="sync it right away")] = True,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Add a source to a collection; paths must lie under the server's allowed roots."""
    if not location.lower().startswith(("http://", "https://")):
        location = os.path.abspath(Path(location).expanduser())
    body = {"location": location, "include": include or [], "exclude": exclude or [],
            "sync": sync}  # fmt: skip
    result = call(
        url, token, "POST", f"/knowledge/{collection}/sources", json=body, timeout=SYNC_TIMEOUT
    )
    if json:
        output.emit_json(result)
        return
    _print_source(result["source"])
    if result["report"] is not None:
        _print_report(result["report"])
    if result["source"]["status"] == "error":
        raise typer.Exit(1)


@app.command("sources")
def sources(
    collection: Annotated[str | None, typer.Argument(help="collection (default: all)")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List sources with the status and counts (+added ~updated =unchanged -removed
    !errors) of their last sync."""
    if collection is None:
        names = [c["name"] for c in call(url, token, "GET", "/knowledge")["collections"]]
    else:
        names = [collection]
    found: list[dict[str, Any]] = []
    for name in names:
        found.extend(call(url, token, "GET", f"/knowledge/{name}/sources")["sources"])
    if json:
        output.emit_json(found)
        return
    output.table(
        ["id", "collection", "kind", "location", "docs", "status", "last sync", "result", "error"],
        [
            [
                s["id"],
                s["collection"],
                s["kind"],
                s["location"],
                str(s["documents"]),
                s["status"],
                (s["sync_finished"] or s["sync_started"] or "-")[:19],
                _report_line(s["last_report"]),
                s["error"] or "",
            ]
            for s in found
        ],
    )


@app.command("remove-source")
def remove_source(
    collection: Collection,
    source_id: Annotated[str, typer.Argument(help="source id (see `smolit knowledge sources`)")],
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Remove a source and all its documents."""
    result = call(url, token, "DELETE", f"/knowledge/{collection}/sources/{source_id}")
    if json:
        output.emit_json(result)
        return
    output.line(f"removed source {source_id} and {result['documents_removed']} documents")


@app.command("sync")
def sync(
    collection: Collection,
    source_id: Annotated[
        str | None, typer.Option("--source", help="only this source (default: all)")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Sync a collection's sources now: only changed content is processed again."""
    body = {"source_id": source_id} if source_id else {}
    result = call(
        url, token, "POST", f"/knowledge/{collection}/sync", json=body, timeout=SYNC_TIMEOUT
    )
    if json:
        output.emit_json(result)
        return
    if not result["results"]:
        output.line(f"collection {collection!r} has no sources")
    for item in result["results"]:
        _print_source(item["source"])
        _print_report(item["report"])
    if any(item["source"]["status"] == "error" for item in result["results"]):
        raise typer.Exit(1)


@app.command("search")
def search(
    collection: Collection,
    query: Annotated[str, typer.Argument(help="what to look for")],
    mode: Annotated[str, typer.Option("--mode", help="hybrid, keyword or semantic")] = "hybrid",
    top_k: Annotated[int | None, typer.Option("--top-k", min=0, help="how many hits")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Search a collection."""
    params: dict[str, Any] = {"q": query, "mode": mode}
    if top_k is not None:
        params["top_k"] = top_k
    hits = call(url, token, "GET", f"/knowledge/{collection}/search", params=params)["hits"]
    if json:
        output.emit_json(hits)
        return
    if not hits:
        output.line("no matches")
    for rank, hit in enumerate(hits, start=1):
        output.line(f"{rank}. {hit['title']}  ({hit['source']})  score {hit['score']:.3f}")
        output.line(f"   {' '.join(hit['text'].split())[:300]}")


@app.command("stats")
def stats(
    collection: Annotated[str | None, typer.Argument(help="collection (default: all)")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Documents, chunks and sources per collection."""
    overview = call(url, token, "GET", "/knowledge")
    rows = overview["collections"]
    if collection is not None:
        rows = [call(url, token, "GET", f"/knowledge/{collection}")]
    if json:
        output.emit_json(rows if collection else overview)
        return
    output.table(
        ["collection", "documents", "chunks", "sources"],
        [[r["name"], str(r["documents"]), str(r["chunks"]), str(r["sources"])] for r in rows],
    )
    if collection is None:
        output.line(
            f"total: {overview['documents']} of at most {overview['max_documents']} documents "
            f"(knowledge.max_documents), {overview['chunks']} chunks"
        )


@app.command("upload")
def upload(
    collection: Collection,
    file: Annotated[Path, typer.Argument(help="the file to upload")],
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Upload a file to the server (kept in its data directory) and ingest it."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.strerror or exc}") from exc
    result = call(
        url,
        token,
        "POST",
        f"/knowledge/{collection}/documents",
        files={"file": (file.name, data)},
        timeout=SYNC_TIMEOUT,
    )
    if json:
        output.emit_json(result)
        return
    for document in result["documents"]:
        output.line(f"document {document['id']}: {document['title']} ({document['chunks']} chunks)")
    _print_report(result["report"])


@app.command("documents")
def documents(
    collection: Collection,
    source_id: Annotated[str | None, typer.Option("--source", help="only this source's")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List a collection's documents."""
    params: dict[str, Any] = {"limit": limit}
    if source_id:
        params["source_id"] = source_id
    found = call(url, token, "GET", f"/knowledge/{collection}/documents", params=params)
    if json:
        output.emit_json(found["documents"])
        return
    output.table(
        ["id", "title", "source", "chunks", "language", "type"],
        [
            [
                d["id"],
                d["title"],
                d["source"],
                str(d["chunks"]),
                d["metadata"].get("language", "-"),
                d["metadata"].get("mime_type", "-"),
            ]
            for d in found["documents"]
        ],
    )


@app.command("remove-document")
def remove_document(
    collection: Collection,
    document_id: Annotated[str, typer.Argument(help="document id")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove one document from a collection."""
    call(url, token, "DELETE", f"/knowledge/{collection}/documents/{document_id}")
    output.line(f"removed document {document_id}")


app.command("eval")(eval_command)
