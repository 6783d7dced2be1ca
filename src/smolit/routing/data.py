"""Labelled routing data: JSONL files of ``{"text": ..., "label": ...}``.

The label ``oos`` marks an out-of-scope request; every other field is ignored. Errors name
the file and the line, so a broken row in 15,000 is easy to find.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from smolit.errors import ValidationError

OOS_LABEL = "oos"
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class Example:
    text: str
    label: str

    @property
    def in_scope(self) -> bool:
        return self.label != OOS_LABEL


@dataclass(frozen=True)
class LabelledData:
    examples: tuple[Example, ...]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.examples]

    def in_scope(self) -> LabelledData:
        return LabelledData(tuple(e for e in self.examples if e.in_scope), self.source)

    def out_of_scope(self) -> LabelledData:
        return LabelledData(tuple(e for e in self.examples if not e.in_scope), self.source)

    def label_counts(self) -> Counter[str]:
        return Counter(e.label for e in self.examples if e.in_scope)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], source: str = "<memory>") -> LabelledData:
        return cls(tuple(Example(text, label) for text, label in pairs), source)


def _row_error(path: Path, number: int, message: str) -> ValidationError:
    return ValidationError(
        f"{path}:{number}: {message}", details={"file": str(path), "line": number}
    )


def parse_row(raw: bytes, path: Path, number: int) -> Example | None:
    """One JSONL line as an ``Example``; blank lines give None."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _row_error(path, number, f"not UTF-8 (byte {exc.start})") from exc
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _row_error(path, number, f"invalid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise _row_error(path, number, "each line must be a JSON object")
    text, label = row.get("text"), row.get("label")
    if not isinstance(text, str) or not text.strip():
        raise _row_error(path, number, '"text" must be a non-empty string')
    if isinstance(label, bool) or not isinstance(label, str | int) or not str(label).strip():
        raise _row_error(path, number, '"label" must be a non-empty string')
    label = str(label).strip()
    if len(label) > MAX_LABEL_CHARS:
        raise _row_error(path, number, f'"label" is longer than {MAX_LABEL_CHARS} characters')
    return Example(text.strip(), label)


def load_jsonl(path: Path) -> LabelledData:
    """Read a labelled JSONL file; any bad line is a ``ValidationError`` naming it."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    examples: list[Example] = []
    with handle:
        for number, raw in enumerate(handle, start=1):
            example = parse_row(raw, path, number)
            if example is not None:
                examples.append(example)
    if not examples:
        raise ValidationError(f"{path}: no examples")
    return LabelledData(tuple(examples), str(path))


def require_training_labels(data: LabelledData, minimum_labels: int = 2) -> None:
    labels = data.label_counts()
    if len(labels) < minimum_labels:
        raise ValidationError(
            f"{data.source}: training needs at least {minimum_labels} in-scope labels, "
            f"found {len(labels)}"
        )


def examples_to_hold_one_out(fraction: float) -> int:
    """The fewest examples of a label from which ``stratified_split`` holds one out."""
    return next(n for n in range(3, 10_000) if round(n * fraction) >= 1)


def stratified_split(
    data: LabelledData, fraction: float, seed: int = 0
) -> tuple[LabelledData, LabelledData]:
    """Split off about ``fraction`` of each label for validation.

    Labels with fewer than 3 examples stay whole in the training part (a label needs at
    least 2 training examples to be learned and 1 to be checked); out-of-scope rows are
    split like any label.
    """
    rng = random.Random(seed)
    by_label = _rows_by_label(data)
    train: list[Example] = []
    held: list[Example] = []
    for label in sorted(by_label):
        rows = [data.examples[i] for i in by_label[label]]
        rng.shuffle(rows)
        take = round(len(rows) * fraction) if len(rows) >= 3 else 0
        take = min(take, len(rows) - 2) if len(rows) >= 3 else 0
        held.extend(rows[:take])
        train.extend(rows[take:])
    rng.shuffle(train)
    return LabelledData(tuple(train), data.source), LabelledData(tuple(held), data.source)


def stratified_folds(data: LabelledData, folds: int, seed: int = 0) -> list[LabelledData]:
    """``data`` dealt into ``folds`` parts, each label's rows spread evenly over them (a
    label with fewer rows than folds is missing from some parts)."""
    return [
        LabelledData(tuple(data.examples[i] for i in part), data.source)
        for part in stratified_fold_rows(data, folds, seed)
    ]


def stratified_fold_rows(data: LabelledData, folds: int, seed: int = 0) -> list[list[int]]:
    """The row numbers of each part of ``stratified_folds``."""
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    rng = random.Random(seed)
    by_label = _rows_by_label(data)
    parts: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for label in sorted(by_label):
        rows = list(by_label[label])
        rng.shuffle(rows)
        for offset, row in enumerate(rows):
            parts[(start + offset) % folds].append(row)
        start += len(rows)  # small labels do not all land in the first part
    for part in parts:
        rng.shuffle(part)
    return parts


def _rows_by_label(data: LabelledData) -> dict[str, list[int]]:
    """Row numbers of each label, in file order."""
    by_label: dict[str, list[int]] = {}
    for row, example in enumerate(data.examples):
        by_label.setdefault(example.label, []).append(row)
    return by_label


def unseen_labels(train: LabelledData, test: LabelledData) -> list[str]:
    known = set(train.label_counts())
    return sorted({e.label for e in test.examples if e.in_scope and e.label not in known})
