"""Reading a BFCL data directory (laid out as the ``bfcl-eval`` wheel's ``bfcl_eval/data``).

A category is ``BFCL_v4_<category>.json`` (JSON lines: ``id``, ``question`` as a list of
turns of chat messages, ``function`` as a list of function documents) and, where calls are
expected, ``possible_answer/BFCL_v4_<category>.json`` (``id``, ``ground_truth``: a list of
``{function name: {parameter: [allowed values]}}``). Only single-turn entries with inline
function documents are supported; anything else is an ``UnsupportedCategory`` that names
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "BFCL_v4_"
ANSWERS = "possible_answer"


class UnsupportedCategory(Exception):
    """A category whose entries this benchmark cannot run, and why."""


@dataclass(frozen=True)
class Entry:
    id: str
    messages: list[dict[str, str]]  # the one turn's chat messages
    functions: list[dict[str, Any]]  # BFCL function documents
    #: the expected calls (``{name: {param: allowed values}}``); None: no call is expected
    answer: list[dict[str, dict[str, list[Any]]]] | None

    @property
    def request(self) -> str:
        """The text a tool is chosen for: the last user message of the turn."""
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else self.messages[-1]["content"]

    @property
    def expected_functions(self) -> set[str]:
        return {name for call in self.answer or [] for name in call}


def category_file(data: Path, category: str) -> Path:
    return data / f"{PREFIX}{category}.json"


def available_categories(data: Path) -> list[str]:
    return sorted(p.name[len(PREFIX) : -len(".json")] for p in data.glob(f"{PREFIX}*.json"))


def expects_no_call(category: str) -> bool:
    """Irrelevance categories: the right answer is to call nothing."""
    return "irrelevance" in category


def expects_any_call(category: str) -> bool:
    """Relevance categories: any call of an offered function is right."""
    return "relevance" in category and not expects_no_call(category)


def expects_parallel(category: str) -> bool:
    """Parallel categories: one answer may hold several calls."""
    return "parallel" in category


def language(category: str) -> str:
    if "java" in category and "javascript" not in category:
        return "java"
    return "javascript" if "javascript" in category else "python"


def _read_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UnsupportedCategory(f"{path.name} line {number} is not JSON: {exc}") from exc
    return rows


def _entry(row: dict[str, Any], answer: list[Any] | None) -> Entry:
    """One entry; an empty function list is kept (nothing can be called, nothing fits)."""
    question = row.get("question")
    functions = row.get("function")
    if not isinstance(functions, list):
        raise UnsupportedCategory("entries carry no inline function documents")
    if not isinstance(question, list) or len(question) != 1 or not isinstance(question[0], list):
        raise UnsupportedCategory("multi-turn entries are not supported")
    messages = question[0]
    if not messages or not all(isinstance(m, dict) and "content" in m for m in messages):
        raise UnsupportedCategory("an entry's turn holds no chat messages")
    return Entry(str(row["id"]), messages, functions, answer)


def load_category(data: Path, category: str, limit: int | None = None) -> list[Entry]:
    """The category's entries (the first ``limit``), with their expected calls."""
    path = category_file(data, category)
    if not path.exists():
        raise UnsupportedCategory(f"no file {path.name} in {data}")
    rows = _read_lines(path)[:limit] if limit else _read_lines(path)
    for row in rows:  # the shape of the entries first: it says most about what is missing
        _entry(row, None)
    answers: dict[str, list[Any]] = {}
    if not expects_no_call(category) and not expects_any_call(category):
        answer_path = data / ANSWERS / path.name
        if not answer_path.exists():
            raise UnsupportedCategory(f"no possible answers ({ANSWERS}/{path.name})")
        for row in _read_lines(answer_path):
            truth = row.get("ground_truth")
            if not isinstance(truth, list) or not all(isinstance(c, dict) for c in truth):
                raise UnsupportedCategory("possible answers are not a list of calls")
            answers[str(row["id"])] = truth
    entries = []
    for row in rows:
        answer = answers.get(str(row.get("id"))) if answers else None
        if answers and answer is None:
            raise UnsupportedCategory(f"entry {row.get('id')} has no possible answer")
        entries.append(_entry(row, answer))
    return entries
