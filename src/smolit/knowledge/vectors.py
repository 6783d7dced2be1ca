"""Nearest-neighbour search over chunk embeddings: a FAISS index per collection, on disk.

SQLite holds every embedding (float32 BLOBs), so an index is a cache that can always be
rebuilt from it. ``FaissVectorStore`` keeps one index per collection in memory and in
``<directory>/<collection>.faiss``; before a search it checks that the index holds exactly
the collection's chunk ids, adds what is missing and drops what is gone, and rebuilds it
when the file is missing, unreadable or made for another dimension. Files are written to a
temporary name (0600) and renamed, so a crash leaves the old file or the new one, and either
is checked against SQLite on the next start. With an at-rest key they are sealed with
AES-GCM; an altered file fails to open and is rebuilt like a damaged one.

Index kind, by the size of a collection:

* up to ``EXACT_MAX_VECTORS`` vectors: exact inner product (``IndexFlatIP``); a query
  costs one pass over the vectors, a few milliseconds at this size;
* above it: HNSW graph (``IndexHNSWFlat``, inner product), sub-linear but approximate. An
  HNSW graph cannot drop vectors, so removed ids are masked out of results and the graph is
  rebuilt once they pass ``HNSW_MAX_MASKED`` of it. A collection goes back to an exact
  index when it shrinks below half of ``EXACT_MAX_VECTORS`` (no flip-flopping at the line).

Vectors are unit length, so the inner product is the cosine.
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import faiss
import numpy as np
import torch

from smolit.errors import KnowledgeError, ValidationError
from smolit.security.envelope import seal, unseal
from smolit.storage.private import write_private

logger = logging.getLogger(__name__)

#: collections up to this many vectors get an exact index, larger ones an HNSW graph
EXACT_MAX_VECTORS = 50_000
#: HNSW: links per node, candidates while building, candidates while searching
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
#: rebuild an HNSW graph once this share of its vectors has been removed
HNSW_MAX_MASKED = 0.2
#: a filtered search over at most this many chunks is done exactly on their embeddings
EXACT_FILTERED_MAX = 4096

IndexKind = Literal["flat", "hnsw"]
#: faiss's bundled type stubs lag the library (search parameters with selectors)
_faiss: Any = faiss
Scored = list[tuple[int, float]]


def to_blobs(embeddings: torch.Tensor) -> list[bytes]:
    """One float32 BLOB per row of ``embeddings``."""
    rows = embeddings.detach().to(device="cpu", dtype=torch.float32).contiguous()
    return [row.numpy().tobytes() for row in rows]


def from_blobs(rows: Sequence[tuple[int, bytes]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids as int64, float32 matrix) from (chunk id, BLOB) rows; ``name`` is for errors."""
    if len({len(blob) for _, blob in rows}) > 1:
        raise KnowledgeError(
            f"collection {name!r} mixes embeddings of different sizes; "
            "re-ingest it with one encoder",
            details={"collection": name},
        )
    ids = np.array([chunk_id for chunk_id, _ in rows], dtype=np.int64)
    if not rows:
        return ids, np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32)
    return ids, matrix.reshape(len(rows), -1)


class ChunkSource(Protocol):
    """Where a vector store reads the chunk embeddings it indexes (the SQLite store)."""

    def identity(self) -> str:
        """Names this source for good: an index file made from another is never used."""
        ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever any chunk was written, by this process or another."""
        ...

    def chunk_ids(self, collection: str) -> list[int]:
        """The ids of all chunks of ``collection``, ascending."""
        ...

    def embeddings(self, ids: Sequence[int]) -> list[tuple[int, bytes]]:
        """(chunk id, float32 BLOB) for ``ids``, ascending by id."""
        ...


class VectorStore(ABC):
    """Nearest-neighbour search over the chunk embeddings of each collection.

    The in-process ``FaissVectorStore`` is the one implementation; a vector database
    server would implement the same two methods.
    """

    @abstractmethod
    def search(
        self,
        collection: str,
        vector: torch.Tensor,
        limit: int,
        among: Collection[int] | None = None,
    ) -> Scored:
        """(chunk id, cosine) of the ``limit`` nearest chunks, best first; only ``among``."""

    @abstractmethod
    def close(self) -> None:
        """Release what the store holds; the embeddings stay in the chunk source."""


@dataclass
class _Index:
    """A collection's FAISS index, the version of the source it matches, masked ids."""

    index: Any  # faiss.IndexIDMap2
    kind: IndexKind
    dimension: int
    version: tuple[int, ...] = ()
    masked: set[int] = field(default_factory=set)

    @property
    def live(self) -> int:
        return int(self.index.ntotal) - len(self.masked)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)


def index_kind(size: int, current: IndexKind | None = None) -> IndexKind:
    """The kind of index for ``size`` vectors, staying HNSW down to half the threshold."""
    if size > EXACT_MAX_VECTORS or (current == "hnsw" and size >= EXACT_MAX_VECTORS // 2):
        return "hnsw"
    return "flat"


def _new_index(dimension: int, kind: IndexKind) -> _Index:
    inner: Any
    if kind == "flat":
        inner = faiss.IndexFlatIP(dimension)
    else:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    index = faiss.IndexIDMap2(inner)
    return _Index(index=index, kind=kind, dimension=dimension)


def _signature(ids: np.ndarray, identity: str) -> dict[str, Any]:
    return {"source": identity, "count": len(ids), "id_sum": int(ids.sum())}


def _save(current: _Index, path: Path, identity: str, key: bytes | None) -> None:
    """The index, then its sidecar naming the source and the ids it holds; each written
    0600 to a temporary file and renamed over, sealed (AES-GCM) when there is a key."""
    sidecar = json.dumps(_signature(current.ids(), identity)).encode()
    index = faiss.serialize_index(current.index).tobytes()
    for target, data in ((path, index), (path.with_suffix(".json"), sidecar)):
        write_private(target, seal(data, key) if key is not None else data)


def _load(path: Path, key: bytes | None) -> bytes:
    data = path.read_bytes()
    return unseal(data, key) if key is not None else data


def _read(path: Path, identity: str, key: bytes | None) -> _Index | None:
    """The index in ``path``, or None when it is missing, unreadable (also: altered, or
    sealed with another key) or not the source's."""
    if not path.exists():
        return None
    try:
        raw = np.frombuffer(_load(path, key), dtype=np.uint8)
        index = faiss.deserialize_index(raw)
        sidecar = json.loads(_load(path.with_suffix(".json"), key))
    except (RuntimeError, OSError, ValueError, ValidationError) as exc:
        logger.warning("rebuilding the vector index %s: cannot read it (%s)", path, exc)
        return None
    if not isinstance(index, faiss.IndexIDMap2):
        logger.warning("rebuilding the vector index %s: not an ID-mapped index", path)
        return None
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if sidecar != _signature(ids, identity):
        logger.warning("rebuilding the vector index %s: it does not match its sidecar", path)
        return None
    inner: Any = faiss.downcast_index(index.index)
    kind: IndexKind = "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"
    if kind == "hnsw":
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return _Index(index=index, kind=kind, dimension=int(index.d))


def _exact(ids: np.ndarray, matrix: np.ndarray, query: np.ndarray, limit: int) -> Scored:
    scores = matrix @ query
    top = np.argsort(-scores, kind="stable")[:limit]
    return [(int(ids[i]), float(scores[i])) for i in top]


class FaissVectorStore(VectorStore):
    """FAISS indexes of the collections of ``source``, saved under ``directory``."""

    def __init__(self, source: ChunkSource, directory: Path, *, key: bytes | None = None) -> None:
        """``key`` seals the index files (AES-GCM, ``security.envelope``)."""
        self._source = source
        self.directory = directory
        self._key = key
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    def path(self, collection: str) -> Path:
        return self.directory / f"{collection}.faiss"

    def search(
        self,
        collection: str,
        vector: torch.Tensor,
        limit: int,
        among: Collection[int] | None = None,
    ) -> Scored:
        query = vector.detach().to(device="cpu", dtype=torch.float32).numpy().reshape(-1)
        if limit <= 0 or (among is not None and not among):
            return []
        if among is not None and len(among) <= EXACT_FILTERED_MAX:
            ids, matrix = from_blobs(self._source.embeddings(sorted(among)), collection)
            if len(ids) == 0:
                return []
            self._check_dimension(collection, query, matrix.shape[1])
            return _exact(ids, matrix, query, limit)
        with self._lock:
            current = self._current(collection)
            if current is None or current.live == 0:
                return []
            self._check_dimension(collection, query, current.dimension)
            return self._search_index(current, query, limit, among)

    @staticmethod
    def _check_dimension(collection: str, query: np.ndarray, dimension: int) -> None:
        if query.shape != (dimension,):
            raise KnowledgeError(
                f"query vector has shape {tuple(query.shape)} but collection {collection!r} "
                f"holds {dimension}-dimensional embeddings",
                details={"collection": collection},
            )

    @staticmethod
    def _search_index(
        current: _Index, query: np.ndarray, limit: int, among: Collection[int] | None
    ) -> Scored:
        selector: Any = None
        if among is not None:
            selector = faiss.IDSelectorBatch(np.fromiter(among, dtype=np.int64))
        if current.masked:
            masked = faiss.IDSelectorNot(
                faiss.IDSelectorBatch(np.fromiter(current.masked, dtype=np.int64))
            )
            selector = masked if selector is None else faiss.IDSelectorAnd(selector, masked)
        if current.kind == "hnsw":
            params = _faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, limit))
        else:
            params = _faiss.SearchParameters(sel=selector)
        k = min(limit, current.live)
        scores, ids = current.index.search(query.reshape(1, -1), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if int(i) != -1]

    def _current(self, collection: str) -> _Index | None:
        """The collection's index, brought in step with the source (lock held)."""
        version = self._source.version()
        current = self._indexes.get(collection)
        if current is not None and current.version == version:
            return current
        wanted = np.array(self._source.chunk_ids(collection), dtype=np.int64)
        if current is None:
            current = _read(self.path(collection), self._source.identity(), self._key)
        if current is not None:
            current = self._update(collection, current, wanted)
        if current is None:
            current = self._build(collection, wanted)
        if current is None:
            self._indexes.pop(collection, None)
            return None
        current.version = version
        self._indexes[collection] = current
        return current

    def _update(self, collection: str, current: _Index, wanted: np.ndarray) -> _Index | None:
        """Add the missing ids and drop the gone ones; None when a rebuild is better."""
        held = current.ids()
        gone = np.setdiff1d(held, wanted, assume_unique=True)
        missing = np.setdiff1d(wanted, held, assume_unique=True)
        masked = current.masked | {int(i) for i in gone}
        if index_kind(len(wanted), current.kind) != current.kind:
            return None
        if current.kind == "hnsw" and len(masked) > HNSW_MAX_MASKED * len(held):
            return None
        if len(gone) == 0 and len(missing) == 0:
            return current
        if current.kind == "flat" and len(gone):
            current.index.remove_ids(gone)
        else:
            current.masked = masked
        if len(missing):
            ids, matrix = from_blobs(self._source.embeddings(missing.tolist()), collection)
            if matrix.shape[1] != current.dimension:
                return None
            current.index.add_with_ids(np.ascontiguousarray(matrix), ids)
        logger.debug("vector index %r: +%d -%d", collection, len(missing), len(gone))
        _save(current, self.path(collection), self._source.identity(), self._key)
        return current

    def _build(self, collection: str, wanted: np.ndarray) -> _Index | None:
        if len(wanted) == 0:
            self.path(collection).unlink(missing_ok=True)
            self.path(collection).with_suffix(".json").unlink(missing_ok=True)
            return None
        ids, matrix = from_blobs(self._source.embeddings(wanted.tolist()), collection)
        built = _new_index(matrix.shape[1], index_kind(len(ids)))
        built.index.add_with_ids(np.ascontiguousarray(matrix), ids)
        logger.info("built a %s vector index of %d chunks for %r", built.kind, len(ids), collection)
        _save(built, self.path(collection), self._source.identity(), self._key)
        return built

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
