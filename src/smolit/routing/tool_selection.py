"""``ToolSelector``: which of an agent's tools fit a request, or none of them.

A tool's prototypes are the shared sentence encoder's vectors of its description (as
"name in words: description"; its parameters' names and descriptions may be added, which
did not help on the development sets) and of each of its examples; its raw match with a
request is the best cosine among them. A raw cosine means different things for different
tools and requests, so the selector measures it against two backgrounds
(``tool_background``):

- the tool's null: its raw match with each of a bank of generic requests, as mean and
  standard deviation (computed once per tool and cached with its prototypes);
- the request's null: the request's cosine with each of a bank of generic tools.

The score is the sum of the two standardised matches, ``(s - mu_tool) / sd_tool +
(s - mu_request) / sd_request``: how unusual this match is for the tool, plus how much
this tool stands out among tools for the request. The shortlist is the ``k`` best scores;
below ``threshold`` the best tool does not fit and the selector abstains. The default
threshold is the largest half-step value at which both development sets of
``bench/tools_dev.py`` (hand-written tools and requests; CLINC150 intents as tools) keep at
least 98 % of their relevant requests; see docs/tools.md.

The math is a handful of matrix products in torch; a request costs one encoder pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from smolit.encoding.base import TextEncoder
from smolit.errors import RoutingError, ValidationError
from smolit.routing.tool_background import GENERIC_REQUESTS, GENERIC_TOOLS
from smolit.tools.base import ToolSpec

#: the score below which no tool fits (see the module docstring and docs/tools.md)
DEFAULT_THRESHOLD = 3.0
DEFAULT_SHORTLIST = 3
#: a standard deviation is never taken as smaller than this (a degenerate background)
MIN_SPREAD = 1e-3


def name_words(name: str) -> str:
    """``get_currentWeather`` or ``math.factorial`` as the words ``get current weather``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return " ".join(part for part in re.split(r"[\s._\-/:]+", spaced) if part).lower()


def _parameter_lines(spec: ToolSpec) -> list[str]:
    properties = spec.parameters.get("properties")
    if not isinstance(properties, dict):
        return []
    lines = []
    for key, schema in properties.items():
        described = schema.get("description") if isinstance(schema, dict) else None
        text = name_words(str(key))
        lines.append(f"{text}: {described}" if isinstance(described, str) and described else text)
    return lines


def prototype_texts(spec: ToolSpec, with_parameters: bool = False) -> list[str]:
    """The texts a tool is matched by: its description line (with its parameters' names
    and descriptions if asked), then its examples."""
    description = f"{name_words(spec.name)}: {spec.description.strip()}"
    parameters = _parameter_lines(spec) if with_parameters else []
    if parameters:
        description += " Parameters: " + "; ".join(parameters) + "."
    return [description, *spec.examples]


def _fingerprint(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ToolScore:
    """One tool's score for a request and its raw best cosine."""

    tool: str
    score: float
    cosine: float


@dataclass(frozen=True)
class ToolSelection:
    """The shortlist (the ``k`` best, best first), or none: ``abstained`` when no tool fits.

    ``best`` is the top-scoring tool even when abstaining, so a caller can say what was
    closest; ``shortlist`` is empty then.
    """

    shortlist: tuple[ToolScore, ...]
    best: ToolScore | None
    abstained: bool
    threshold: float
    seconds: float = 0.0
    reason: str = ""

    @property
    def tools(self) -> list[str]:
        return [candidate.tool for candidate in self.shortlist]


@dataclass(frozen=True)
class _Tool:
    name: str
    fingerprint: str
    prototypes: torch.Tensor  # (prototypes, d), unit rows
    null_mean: float
    null_spread: float


@dataclass(frozen=True)
class _Table:
    names: list[str]
    vectors: torch.Tensor  # (rows, d): every tool's prototypes, stacked
    owner: torch.Tensor  # (rows,) index of each row's tool
    null_mean: torch.Tensor  # (tools,)
    null_spread: torch.Tensor  # (tools,)
    index: dict[str, int] = field(default_factory=dict)


class ToolSelector:
    """Shortlists the tools that fit a request and abstains when none does.

    ``set_tools`` declares the tools (prototypes are cached per tool and recomputed only
    for a tool whose texts changed); ``select_sync`` scores them for one request, and
    ``select`` runs it in a worker thread for the event loop.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        threshold: float = DEFAULT_THRESHOLD,
        k: int = DEFAULT_SHORTLIST,
        with_parameters: bool = False,
    ) -> None:
        if k < 1:
            raise ValidationError(f"a tool shortlist needs k >= 1, not {k}")
        self.encoder = encoder
        self.threshold = threshold
        self.k = k
        self.with_parameters = with_parameters
        self._lock = threading.Lock()
        self._cache: dict[str, _Tool] = {}
        self._table: _Table | None = None
        self._requests: torch.Tensor | None = None  # generic requests, (n, d)
        self._tools: torch.Tensor | None = None  # generic tools, (m, d)

    def _backgrounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._requests is None or self._tools is None:
            self._requests = self.encoder.encode(list(GENERIC_REQUESTS))
            self._tools = self.encoder.encode(
                [f"{name_words(name)}: {text}" for name, text in GENERIC_TOOLS]
            )
        return self._requests, self._tools

    def _tool(self, spec: ToolSpec, requests: torch.Tensor) -> _Tool:
        texts = prototype_texts(spec, self.with_parameters)
        fingerprint = _fingerprint(texts)
        cached = self._cache.get(spec.name)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        vectors = self.encoder.encode(texts)
        null = (requests @ vectors.T).max(dim=1).values
        return _Tool(
            spec.name,
            fingerprint,
            vectors,
            float(null.mean()),
            max(float(null.std()), MIN_SPREAD),
        )

    def _build(self, specs: Sequence[ToolSpec], keep_others: bool) -> _Table | None:
        """The table of ``specs`` from cached prototypes (encoding only new or changed
        tools); ``keep_others``: the cache keeps tools not in ``specs`` too."""
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValidationError(f"tool names must be unique: {sorted(names)}")
        with self._lock:
            requests, _ = self._backgrounds()
            tools = [self._tool(spec, requests) for spec in specs]
            fresh = {tool.name: tool for tool in tools}
            self._cache = {**self._cache, **fresh} if keep_others else fresh
        if not tools:
            return None
        return _Table(
            names=names,
            vectors=torch.cat([tool.prototypes for tool in tools]),
            owner=torch.cat(
                [
                    torch.full((len(tool.prototypes),), i, dtype=torch.long)
                    for i, tool in enumerate(tools)
                ]
            ),
            null_mean=torch.tensor([tool.null_mean for tool in tools]),
            null_spread=torch.tensor([tool.null_spread for tool in tools]),
            index={name: i for i, name in enumerate(names)},
        )

    def set_tools(self, specs: Sequence[ToolSpec]) -> None:
        """Replace the set of tools the selector chooses from."""
        self._table = self._build(specs, keep_others=False)

    @property
    def tool_names(self) -> list[str]:
        table = self._table
        return list(table.names) if table is not None else []

    def select_sync(
        self, text: str, available: Sequence[str] | None = None, k: int | None = None
    ) -> ToolSelection:
        """The tools (of ``available``, default all) that fit ``text``, best first."""
        return self._select(self._table, text, available, k)

    def _select(
        self, table: _Table | None, text: str, available: Sequence[str] | None, k: int | None
    ) -> ToolSelection:
        if not text or not text.strip():
            raise ValidationError("the request to choose tools for is empty")
        started = time.perf_counter()
        if table is None:
            raise RoutingError("no tools are configured to choose from")
        usable = self._usable(table, available)
        cosines, scores = self._score(table, self.encoder.encode([text]))
        cosines, scores = cosines[0], scores[0]
        scores = torch.where(usable, scores, torch.full_like(scores, float("-inf")))
        count = min(k or self.k, int(usable.sum()))
        top = torch.topk(scores, count)
        ranked = tuple(
            ToolScore(table.names[i], float(scores[i]), float(cosines[i]))
            for i in top.indices.tolist()
        )
        best = ranked[0]
        abstained = best.score < self.threshold
        if abstained:
            reason = (
                f"no tool fits: the closest ({best.tool}) scores {best.score:.2f}, "
                f"below the threshold {self.threshold:.2f}"
            )
        else:
            reason = f"{best.tool} fits best (score {best.score:.2f}, cosine {best.cosine:.3f})"
        return ToolSelection(
            shortlist=() if abstained else ranked,
            best=best,
            abstained=abstained,
            threshold=self.threshold,
            seconds=time.perf_counter() - started,
            reason=reason,
        )

    def scores_sync(self, texts: list[str]) -> torch.Tensor:
        """Every tool's score for each text, shape (texts, tools) in ``tool_names`` order:
        what ``select_sync`` ranks and thresholds, for evaluating many texts at once."""
        table = self._table
        if table is None:
            raise RoutingError("no tools are configured to choose from")
        return self._score(table, self.encoder.encode(texts))[1]

    def _score(self, table: _Table, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw best cosines and scores, both (texts, tools), for encoded texts ``z``."""
        _, generic_tools = self._backgrounds()
        row_cosines = z @ table.vectors.T
        index = table.owner.expand(len(z), -1)
        cosines = torch.full((len(z), len(table.names)), -2.0).scatter_reduce(
            1, index, row_cosines, reduce="amax"
        )
        request_null = z @ generic_tools.T
        request_mean = request_null.mean(dim=1, keepdim=True)
        request_spread = request_null.std(dim=1, keepdim=True).clamp_min(MIN_SPREAD)
        scores = (cosines - table.null_mean) / table.null_spread + (
            cosines - request_mean
        ) / request_spread
        return cosines, scores

    async def select(
        self, text: str, available: Sequence[str] | None = None, k: int | None = None
    ) -> ToolSelection:
        """``select_sync`` in a worker thread, so the event loop never waits on the encoder."""
        return await asyncio.to_thread(self.select_sync, text, available, k)

    async def shortlist(self, request: str, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        """The agents' tool-selector interface: of ``tools``, those that fit ``request``,
        best first; empty when none does. Tools are not retained as ``set_tools`` would
        (each call chooses among its own), but their prototypes stay cached."""
        return await asyncio.to_thread(self._shortlist_sync, request, list(tools))

    def _shortlist_sync(self, request: str, tools: list[ToolSpec]) -> list[ToolSpec]:
        table = self._build(tools, keep_others=True)
        if table is None:
            return []
        by_name = {spec.name: spec for spec in tools}
        return [by_name[name] for name in self._select(table, request, None, None).tools]

    @staticmethod
    def _usable(table: _Table, available: Sequence[str] | None) -> torch.Tensor:
        if available is None:
            return torch.ones(len(table.names), dtype=torch.bool)
        unknown = sorted(set(available) - set(table.index))
        if unknown:
            raise ValidationError(f"unknown tools: {', '.join(unknown)}")
        if not available:
            raise ValidationError("no tools are available to choose from")
        usable = torch.zeros(len(table.names), dtype=torch.bool)
        usable[[table.index[name] for name in available]] = True
        return usable
