"""BFCL function documents as tool specs (bench/bfcl/schema.py) and its data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.bfcl.data import UnsupportedCategory, load_category
from bench.bfcl.schema import json_schema, tool_set

DOCUMENT = {
    "name": "geometry.area",
    "description": "Area of a shape.",
    "parameters": {
        "type": "dict",
        "properties": {
            "sides": {"type": "tuple", "items": {"type": "float"}, "description": "Sides."},
            "options": {"type": "dict", "properties": {"round": {"type": "boolean"}}},
            "note": {"type": "any", "optional": True},
        },
        "required": ["sides"],
    },
}


def test_bfcl_type_names_become_json_schema_types() -> None:
    schema = json_schema(DOCUMENT["parameters"])
    assert schema["type"] == "object"
    assert schema["properties"]["sides"] == {
        "description": "Sides.",
        "type": "array",
        "items": {"type": "number"},
    }
    assert schema["properties"]["options"]["properties"]["round"] == {"type": "boolean"}
    assert schema["properties"]["note"] == {}
    assert schema["required"] == ["sides"]


def test_dotted_names_become_tool_names_and_map_back() -> None:
    tools = tool_set([DOCUMENT])
    (spec,) = tools.specs
    assert spec.name == "geometry_area"
    assert tools.original["geometry_area"] == "geometry.area"
    assert spec.argument_problems({"sides": [3, 4.5]}) == []
    assert spec.argument_problems({"sides": "3"}) != []
    assert tools.functions()[0].name == "geometry_area"


def test_names_that_collide_after_renaming_stay_distinct() -> None:
    other = {**DOCUMENT, "name": "geometry_area"}
    assert [spec.name for spec in tool_set([DOCUMENT, other]).specs] == [
        "geometry_area",
        "geometry_area_2",
    ]


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")


def test_a_category_loads_with_its_possible_answers(tmp_path: Path) -> None:
    question = [[{"role": "user", "content": "Area of a 3 by 4 shape?"}]]
    _write(
        tmp_path / "BFCL_v4_simple_x.json",
        [{"id": "a", "question": question, "function": [DOCUMENT]}],
    )
    truth = [{"geometry.area": {"sides": [[3.0, 4.0]]}}]
    _write(
        tmp_path / "possible_answer" / "BFCL_v4_simple_x.json", [{"id": "a", "ground_truth": truth}]
    )
    (entry,) = load_category(tmp_path, "simple_x")
    assert entry.request == "Area of a 3 by 4 shape?"
    assert entry.expected_functions == {"geometry.area"}


def test_a_multi_turn_category_is_unsupported(tmp_path: Path) -> None:
    turns = [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]
    _write(
        tmp_path / "BFCL_v4_multi_turn_x.json",
        [{"id": "a", "question": turns, "function": [DOCUMENT]}],
    )
    with pytest.raises(UnsupportedCategory, match="multi-turn"):
        load_category(tmp_path, "multi_turn_x")


def test_a_missing_answer_file_is_unsupported(tmp_path: Path) -> None:
    question = [[{"role": "user", "content": "a"}]]
    _write(
        tmp_path / "BFCL_v4_simple_y.json",
        [{"id": "a", "question": question, "function": [DOCUMENT]}],
    )
    with pytest.raises(UnsupportedCategory, match="possible answers"):
        load_category(tmp_path, "simple_y")


def test_an_irrelevance_category_needs_no_answers(tmp_path: Path) -> None:
    question = [[{"role": "user", "content": "a"}]]
    _write(
        tmp_path / "BFCL_v4_irrelevance.json", [{"id": "a", "question": question, "function": []}]
    )
    (entry,) = load_category(tmp_path, "irrelevance")
    assert entry.answer is None and entry.functions == []
