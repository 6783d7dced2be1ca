"""``/knowledge``: collections, their sources and documents, sync and search.

Reading needs any token; adding or removing sources and documents, syncing and uploading
need an admin token. Paths given as sources are paths on the server and must lie under
``knowledge.allowed_roots``. Uploads have their own body limit, ``knowledge.max_upload_mb``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.api.outputs import (
    CollectionOut,
    DocumentList,
    DocumentOut,
    DocumentsAdded,
    KnowledgeOverview,
    SearchHits,
    SourceList,
    SourceOut,
    SourceRemoved,
    SourceSynced,
    SyncResults,
)
from smolit.api.responses import ADMIN, AUTHENTICATED, errors
from smolit.api.schemas import DB_INT_MAX, PathName, Text, plain_text
from smolit.errors import NotFoundError, ValidationError
from smolit.knowledge.records import IngestReport, SearchMode, SourceRecord
from smolit.system import AgentNN

router = APIRouter(prefix="/knowledge", tags=["knowledge"], responses=AUTHENTICATED)

#: the upload route, for the body size limit (``api.limits``)
UPLOAD_PATH = re.compile(r"/knowledge/[^/]+/documents/?")

Pattern = Annotated[Text, Field(min_length=1, max_length=500)]


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: Text = Field(
        min_length=1, max_length=4096, description="a path on the server, or an http(s) URL"
    )
    include: list[Pattern] = Field(default_factory=list, max_length=100)
    exclude: list[Pattern] = Field(default_factory=list, max_length=100)
    sync: bool = Field(True, description="sync it right away")


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: Text | None = Field(
        None, max_length=200, description="one source; all of the collection if absent"
    )


def _collection_view(system: AgentNN, name: str) -> CollectionOut:
    stats = system.knowledge.stats(name)
    sources = len(system.knowledge.sources(name))
    return CollectionOut(name=name, **stats, sources=sources)


def _overview(system: AgentNN) -> KnowledgeOverview:
    collections = [_collection_view(system, name) for name in system.knowledge.collections()]
    return KnowledgeOverview(
        collections=collections,
        **system.knowledge.stats(),
        max_documents=system.settings.knowledge.max_documents,
    )


@router.get("", response_model=KnowledgeOverview)
async def list_collections(system: SystemDep, _principal: PrincipalDep) -> KnowledgeOverview:
    """Every collection with its counts of documents, chunks and sources, and the totals."""
    return await asyncio.to_thread(_overview, system)


@router.get("/{collection}", response_model=CollectionOut, responses=errors(404))
async def show_collection(
    collection: PathName, system: SystemDep, _principal: PrincipalDep
) -> CollectionOut:
    """One collection's counts of documents, chunks and sources."""
    if collection not in await asyncio.to_thread(system.knowledge.collections):
        raise NotFoundError(f"no collection {collection!r}", details={"collection": collection})
    return await asyncio.to_thread(_collection_view, system, collection)


# --- sources ---------------------------------------------------------------------------------


@router.get("/{collection}/sources", response_model=SourceList, responses=errors(404))
async def list_sources(
    collection: PathName, system: SystemDep, _principal: PrincipalDep
) -> SourceList:
    """The sources of a collection, each with the status and counts of its last sync."""
    sources = await asyncio.to_thread(system.knowledge.sources, collection)
    return SourceList.model_validate({"sources": [source.to_dict() for source in sources]})


@router.post(
    "/{collection}/sources",
    response_model=SourceSynced,
    status_code=status.HTTP_201_CREATED,
    responses=ADMIN | errors(409),
)
async def add_source(
    collection: PathName, body: SourceCreate, system: SystemDep, _admin: AdminDep
) -> SourceSynced:
    """Add a file, directory or URL as a source, and (by default) sync it."""
    source = await asyncio.to_thread(
        system.knowledge.add_source, collection, body.location, body.include, body.exclude
    )
    if not body.sync:
        return _synced(source, None)
    source, report = await asyncio.to_thread(system.knowledge.sync_source, source.id)
    return _synced(source, report)


@router.get("/{collection}/sources/{source_id}", response_model=SourceOut, responses=errors(404))
async def show_source(
    collection: PathName, source_id: PathName, system: SystemDep, _principal: PrincipalDep
) -> SourceOut:
    source = await asyncio.to_thread(system.knowledge.get_source, source_id, collection)
    return SourceOut.model_validate(source.to_dict())


@router.delete(
    "/{collection}/sources/{source_id}",
    response_model=SourceRemoved,
    responses=ADMIN | errors(404, 409),
)
async def remove_source(
    collection: PathName, source_id: PathName, system: SystemDep, _admin: AdminDep
) -> SourceRemoved:
    """Forget a source and remove its documents from both indexes."""
    removed = await asyncio.to_thread(system.knowledge.remove_source, source_id, collection)
    return SourceRemoved(removed=source_id, documents_removed=removed)


@router.post("/{collection}/sync", response_model=SyncResults, responses=ADMIN | errors(404, 409))
async def sync(
    collection: PathName,
    system: SystemDep,
    _admin: AdminDep,
    body: SyncRequest | None = None,
) -> SyncResults:
    """Sync one source of the collection now, or all of them."""
    if body is not None and body.source_id is not None:
        results = [
            await asyncio.to_thread(system.knowledge.sync_source, body.source_id, collection)
        ]
    else:
        results = await asyncio.to_thread(system.knowledge.sync_all, collection)
    return SyncResults(results=[_synced(source, report) for source, report in results])


def _synced(source: SourceRecord, report: IngestReport | None) -> SourceSynced:
    return SourceSynced.model_validate(
        {"source": source.to_dict(), "report": report.to_dict() if report else None}
    )


# --- search ----------------------------------------------------------------------------------


#: the query parameters of ``/search`` that are not filters
SEARCH_PARAMETERS = frozenset({"q", "mode", "top_k"})


@router.get("/{collection}/search", response_model=SearchHits, responses=errors(404))
async def search(
    collection: PathName,
    request: Request,
    system: SystemDep,
    _principal: PrincipalDep,
    q: Annotated[Text, Query(min_length=1, max_length=10_000, description="the query")],
    mode: Annotated[SearchMode, Query()] = "hybrid",
    top_k: Annotated[int | None, Query(ge=0, le=100)] = None,
) -> SearchHits:
    """The chunks of the collection that best match ``q``, best first.

    Every other query parameter is a filter on the documents: ``source``, ``title``,
    ``source_prefix``, or a metadata key such as ``language``, ``mime_type``, ``author``
    or ``source_id`` (``?language=de``).
    """
    filters = {
        key: value for key, value in request.query_params.items() if key not in SEARCH_PARAMETERS
    }
    try:
        plain_text(filters)
    except ValueError as exc:
        raise ValidationError(f"search filters: {exc}", details={"field": "filters"}) from exc
    hits = await system.knowledge.search(collection, q, top_k, mode, filters or None)
    return SearchHits(hits=hits)


# --- documents -------------------------------------------------------------------------------


@router.get("/{collection}/documents", response_model=DocumentList, responses=errors(404))
async def list_documents(
    collection: PathName,
    system: SystemDep,
    _principal: PrincipalDep,
    source_id: Annotated[
        Text | None, Query(max_length=200, description="only this source's")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> DocumentList:
    documents = await asyncio.to_thread(
        system.knowledge.list_documents, collection, source_id, limit, offset
    )
    return DocumentList.model_validate({"documents": [d.to_dict() for d in documents]})


@router.post(
    "/{collection}/documents",
    response_model=DocumentsAdded,
    status_code=status.HTTP_201_CREATED,
    responses=ADMIN | errors(404, 409),
)
async def upload_document(
    collection: PathName,
    system: SystemDep,
    _admin: AdminDep,
    file: Annotated[UploadFile, File(description="the document")],
) -> DocumentsAdded:
    """Upload a file; it is kept under the data directory and ingested."""
    if not file.filename:
        raise ValidationError("the upload has no file name")
    data = await file.read()
    documents, report = await asyncio.to_thread(
        system.knowledge.add_upload, collection, file.filename, data
    )
    return DocumentsAdded.model_validate(
        {"documents": [d.to_dict() for d in documents], "report": report.to_dict()}
    )


async def _document_in(system: AgentNN, collection: str, document_id: str) -> None:
    document = await asyncio.to_thread(system.knowledge.get_document, document_id)
    if document.collection != collection:
        raise NotFoundError(
            f"no document {document_id!r} in collection {collection!r}",
            details={"id": document_id, "collection": collection},
        )


@router.get(
    "/{collection}/documents/{document_id}", response_model=DocumentOut, responses=errors(404)
)
async def show_document(
    collection: PathName, document_id: PathName, system: SystemDep, _principal: PrincipalDep
) -> DocumentOut:
    await _document_in(system, collection, document_id)
    document = await asyncio.to_thread(system.knowledge.get_document, document_id)
    return DocumentOut.model_validate(document.to_dict())


@router.delete(
    "/{collection}/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=ADMIN | errors(404),
)
async def remove_document(
    collection: PathName, document_id: PathName, system: SystemDep, _admin: AdminDep
) -> Response:
    await _document_in(system, collection, document_id)
    await asyncio.to_thread(system.knowledge.remove_document, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
