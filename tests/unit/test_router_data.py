"""Labelled routing data: JSONL loading, splitting and the small helpers around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smolit.errors import ValidationError
from smolit.routing.data import (
    LabelledData,
    examples_to_hold_one_out,
    load_jsonl,
    require_training_labels,
    stratified_folds,
    stratified_split,
    unseen_labels,
)


def write_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines))
    return path


def row(text: object, label: object) -> str:
    return json.dumps({"text": text, "label": label})


def test_load_jsonl_reads_text_and_label_and_ignores_other_fields(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "d.jsonl", json.dumps({"text": "book a flight", "label": "travel", "id": 7})
    )
    data = load_jsonl(path)
    assert (data.texts, data.labels, data.source) == (["book a flight"], ["travel"], str(path))


def test_load_jsonl_turns_integer_labels_into_strings(tmp_path: Path) -> None:
    data = load_jsonl(write_lines(tmp_path / "d.jsonl", row("hello", 3)))
    assert data.labels == ["3"]


def test_load_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("a", "x"), "", "   ", row("b", "y"), "")
    assert load_jsonl(path).texts == ["a", "b"]


def test_broken_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("a", "x"), "", '{"text": "b", "label":')
    with pytest.raises(ValidationError, match="invalid JSON") as caught:
        load_jsonl(path)
    assert f"{path}:3" in caught.value.message
    assert caught.value.details == {"file": str(path), "line": 3}


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("a", "x"), b'{"text": "\xff", "label": "x"}')
    with pytest.raises(ValidationError, match="not UTF-8") as caught:
        load_jsonl(path)
    assert f"{path}:2" in caught.value.message


def test_whitespace_text_names_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("a", "x"), row("   ", "x"))
    with pytest.raises(ValidationError, match='"text" must be') as caught:
        load_jsonl(path)
    assert f"{path}:2" in caught.value.message


def test_empty_text_names_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("", "x"))
    with pytest.raises(ValidationError, match=f'{path}:1: "text" must be'):
        load_jsonl(path)


def test_missing_label_names_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", row("a", "x"), json.dumps({"text": "b"}))
    with pytest.raises(ValidationError, match='"label" must be') as caught:
        load_jsonl(path)
    assert f"{path}:2" in caught.value.message


def test_a_line_that_is_not_an_object_names_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", '["a", "x"]')
    with pytest.raises(ValidationError, match="must be a JSON object") as caught:
        load_jsonl(path)
    assert f"{path}:1" in caught.value.message


def test_an_empty_file_has_no_examples(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", "", "  ")
    with pytest.raises(ValidationError, match="no examples"):
        load_jsonl(path)


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(ValidationError, match="cannot read") as caught:
        load_jsonl(path)
    assert str(path) in caught.value.message


def sized_data() -> LabelledData:
    return LabelledData.of(
        [(f"a{i}", "small") for i in range(2)]
        + [(f"b{i}", "big") for i in range(10)]
        + [("c0", "single")]
        + [(f"o{i}", "oos") for i in range(5)]
    )


def test_stratified_split_keeps_labels_under_three_examples_in_train() -> None:
    train, held = stratified_split(sized_data(), 0.3, seed=1)
    assert train.labels.count("small") == 2
    assert train.labels.count("single") == 1
    assert "small" not in held.labels and "single" not in held.labels


def test_stratified_split_holds_out_the_fraction_of_bigger_labels() -> None:
    train, held = stratified_split(sized_data(), 0.3, seed=1)
    assert (held.labels.count("big"), train.labels.count("big")) == (3, 7)
    assert (held.labels.count("oos"), train.labels.count("oos")) == (2, 3)
    assert sorted(train.texts + held.texts) == sorted(sized_data().texts)


def test_stratified_split_is_deterministic_for_a_seed() -> None:
    first = stratified_split(sized_data(), 0.3, seed=5)
    second = stratified_split(sized_data(), 0.3, seed=5)
    assert first == second


def test_unseen_labels_lists_in_scope_test_labels_missing_from_train() -> None:
    train = LabelledData.of([("a", "x"), ("b", "y")])
    test = LabelledData.of([("c", "x"), ("d", "z"), ("e", "oos"), ("f", "w"), ("g", "z")])
    assert unseen_labels(train, test) == ["w", "z"]


def test_require_training_labels_rejects_a_single_label() -> None:
    data = LabelledData.of([("a", "x"), ("b", "x"), ("c", "oos")])
    with pytest.raises(ValidationError, match="at least 2 in-scope labels, found 1"):
        require_training_labels(data)


def test_require_training_labels_accepts_two_labels() -> None:
    require_training_labels(LabelledData.of([("a", "x"), ("b", "y")]))


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
def test_the_hold_out_minimum_is_where_a_label_first_gives_one_example(fraction: float) -> None:
    fewest = examples_to_hold_one_out(fraction)

    def held(count: int) -> int:
        data = LabelledData.of([(f"t{i}", "label") for i in range(count)])
        return len(stratified_split(data, fraction)[1])

    assert held(fewest) >= 1 and held(fewest - 1) == 0


def test_stratified_folds_spread_each_label_evenly_and_lose_nothing() -> None:
    data = sized_data()
    folds = stratified_folds(data, 2, seed=4)
    assert sorted(t for fold in folds for t in fold.texts) == sorted(data.texts)
    assert [fold.labels.count("big") for fold in folds] == [5, 5]
    assert [fold.labels.count("small") for fold in folds] == [1, 1]
    assert sorted(fold.labels.count("oos") for fold in folds) == [2, 3]
    assert stratified_folds(data, 2, seed=4) == folds


def test_labels_smaller_than_the_fold_count_do_not_all_land_in_the_first_fold() -> None:
    data = LabelledData.of([(f"t{i}", f"label{i}") for i in range(6)])
    assert [len(fold) for fold in stratified_folds(data, 3)] == [2, 2, 2]


def test_stratified_folds_need_two_folds() -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(sized_data(), 1)
