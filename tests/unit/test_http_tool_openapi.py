"""OpenAPI 3 documents as ``http`` tools: names, arguments, references, base URLs, and
documents that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from smolit.errors import ConfigError
from smolit.tools import ToolContext
from smolit.tools.http import HttpTool, build_http_tools

PETS: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "servers": [
        {
            "url": "https://{region}.pets.example/v{version}",
            "variables": {"region": {"default": "eu"}, "version": {"default": "2"}},
        }
    ],
    "paths": {
        "/pets/{petId}": {
            "parameters": [{"$ref": "#/components/parameters/PetId"}],
            "get": {
                "operationId": "getPet",
                "summary": "One pet.",
                "description": "A pet by its id, with its owner.",
                "parameters": [
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                    {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                ],
            },
            "delete": {"summary": "Remove a pet."},
        },
        "/pets": {
            "post": {
                "operationId": "create pet!",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}
                    },
                },
            },
            "get": {
                "operationId": "listPets",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "at most this many",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "exclusiveMinimum": True,
                            "nullable": True,
                        },
                    },
                ],
            },
        },
    },
    "components": {
        "parameters": {
            "PetId": {
                "name": "petId",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            },
        },
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "tag": {"$ref": "#/components/schemas/Tag"},
                },
            },
            "Tag": {"type": "string", "example": "cat"},
        },
    },
}


def _write(tmp_path: Path, document: Any, name: str = "pets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document) if isinstance(document, dict) else document)
    return path


def _tools(tmp_path: Path, document: Any = PETS, **settings: Any) -> dict[str, HttpTool]:
    path = _write(tmp_path, document)
    tools = build_http_tools({"openapi": str(path), **settings}, ToolContext())
    return {tool.name: tool for tool in tools if isinstance(tool, HttpTool)}


def _error(tmp_path: Path, document: Any, **settings: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _tools(tmp_path, document, **settings)
    return info.value.message


def test_each_operation_becomes_a_tool_named_by_operation_id_or_method_and_path(
    tmp_path: Path,
) -> None:
    assert sorted(_tools(tmp_path)) == ["create_pet", "delete_pets_petId", "getPet", "listPets"]


def test_summary_and_description_describe_the_tool(tmp_path: Path) -> None:
    tools = _tools(tmp_path)
    assert tools["getPet"].spec.description == "One pet.\n\nA pet by its id, with its owner."
    assert tools["delete_pets_petId"].spec.description == "Remove a pet."


def test_path_item_and_header_parameters_become_arguments(tmp_path: Path) -> None:
    spec = _tools(tmp_path)["getPet"].spec
    assert spec.parameters["properties"] == {
        "petId": {"type": "string"},
        "X-Trace": {"type": "string"},
    }
    assert spec.parameters["required"] == ["petId"]


def test_object_body_is_flattened_with_its_references_resolved(tmp_path: Path) -> None:
    tool = _tools(tmp_path)["create_pet"]
    assert tool.spec.parameters["properties"] == {
        "name": {"type": "string"},
        "tag": {"type": "string"},
    }
    assert tool.spec.parameters["required"] == ["name"]
    assert tool.endpoint.request({"name": "Rex"}).body == {"name": "Rex"}
    assert tool.spec.idempotent is False


def test_openapi_30_nullable_and_exclusive_bounds_become_json_schema(tmp_path: Path) -> None:
    limit = _tools(tmp_path)["listPets"].spec.parameters["properties"]["limit"]
    assert limit == {
        "type": ["integer", "null"],
        "exclusiveMinimum": 1,
        "description": "at most this many",
    }


def test_server_variables_take_their_defaults(tmp_path: Path) -> None:
    endpoint = _tools(tmp_path)["getPet"].endpoint
    assert endpoint.url == "https://eu.pets.example/v2/pets/{petId}"


def test_base_url_setting_overrides_the_servers(tmp_path: Path) -> None:
    tools = _tools(tmp_path, base_url="https://staging.example/api")
    assert tools["listPets"].endpoint.url == "https://staging.example/api/pets"


def test_operations_select_a_subset_by_operation_id(tmp_path: Path) -> None:
    assert sorted(_tools(tmp_path, operations=["getPet", "create pet!"])) == [
        "create_pet",
        "getPet",
    ]


def test_prefix_goes_before_imported_names(tmp_path: Path) -> None:
    assert "pets_getPet" in _tools(tmp_path, prefix="pets_", operations=["getPet"])


def test_unknown_operation_in_the_selection_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, PETS, operations=["getPets"])
    assert "operations: 'getPets' is not an operation of openapi" in message


def test_declared_operation_may_join_imported_ones(tmp_path: Path) -> None:
    declared = {"name": "health", "description": "Is the API up?", "url": "/health"}
    tools = _tools(tmp_path, operations=["getPet", declared])
    assert tools["health"].endpoint.url == "https://eu.pets.example/v2/health"


def _document(operation: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "servers": [{"url": "https://api.example"}],
        "paths": {"/things": {"post": {"operationId": "make", **operation}}},
        **extra,
    }


def _body(schema: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, **body}}


def test_body_that_clashes_with_a_parameter_is_one_body_argument(tmp_path: Path) -> None:
    operation = {
        "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
        **_body({"type": "object", "properties": {"name": {"type": "string"}}}, required=True),
    }
    tool = _tools(tmp_path, _document(operation))["make"]
    assert set(tool.spec.parameters["properties"]) == {"name", "body"}
    assert tool.spec.parameters["required"] == ["body"]
    request = tool.endpoint.request({"name": "q", "body": {"name": "b"}})
    assert request.params == (("name", "q"),) and request.body == {"name": "b"}


def test_array_body_is_the_body_argument(tmp_path: Path) -> None:
    tool = _tools(tmp_path, _document(_body({"type": "array", "items": {"type": "integer"}})))
    assert tool["make"].spec.parameters["properties"]["body"] == {
        "type": "array",
        "items": {"type": "integer"},
    }


def test_recursive_schema_becomes_any_value_where_it_recurs(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
    root = {"type": "object", "properties": {"root": {"$ref": "#/components/schemas/Node"}}}
    document = _document(_body(root), components={"schemas": {"Node": node}})
    spec = _tools(tmp_path, document)["make"].spec
    assert spec.parameters["properties"]["root"] == {
        "type": "object",
        "properties": {"child": {}},
    }


def test_remote_reference_is_refused(tmp_path: Path) -> None:
    document = _document(_body({"$ref": "https://evil.example/schema.json"}))
    message = _error(tmp_path, document)
    assert "$ref 'https://evil.example/schema.json' refused" in message
    assert str(tmp_path / "pets.yaml") in message


def test_reference_to_nothing_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, _document(_body({"$ref": "#/components/schemas/Gone"})))
    assert "$ref '#/components/schemas/Gone' points at nothing" in message


def test_required_cookie_parameter_leaves_the_operation_out(tmp_path: Path) -> None:
    cookie = {"name": "session", "in": "cookie", "required": True}
    document = _document({"parameters": [cookie]})
    document["paths"]["/other"] = {"get": {"operationId": "other"}}
    assert sorted(_tools(tmp_path, document)) == ["other"]
    message = _error(tmp_path, document, operations=["make"])
    assert "'make'" in message and "cannot be called: it needs the cookie parameter" in message


def test_json_document_is_read_too(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(_document({})), "api.json")
    (tool,) = build_http_tools({"openapi": str(path)}, ToolContext())
    assert tool.name == "make"


def test_relative_path_resolves_against_the_context_base_dir(tmp_path: Path) -> None:
    _write(tmp_path, _document({}), "api.yaml")
    (tool,) = build_http_tools({"openapi": "api.yaml"}, ToolContext(base_dir=tmp_path))
    assert tool.name == "make"


def test_document_that_does_not_parse_is_named_with_the_problem(tmp_path: Path) -> None:
    message = _error(tmp_path, "openapi: 3.0.0\npaths: {/x: [\n")
    assert message.startswith(f"openapi {tmp_path / 'pets.yaml'}: neither JSON nor YAML")
    assert "line" in message


def test_swagger_2_document_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, {"swagger": "2.0", "paths": {}})
    assert "not an OpenAPI 3 document (swagger: '2.0', convert it to OpenAPI 3)" in message


def test_document_without_operations_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, {"openapi": "3.0.0", "paths": {}})
    assert message.endswith("the document has no operations")


def test_missing_document_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"openapi .*missing\.yaml: cannot read it"):
        build_http_tools({"openapi": str(tmp_path / "missing.yaml")}, ToolContext())


def test_relative_server_url_of_a_file_needs_base_url(tmp_path: Path) -> None:
    document = {**_document({}), "servers": [{"url": "/api"}]}
    assert "set base_url" in _error(tmp_path, document)


def test_document_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, _document({}), openapi_max_bytes=10)
    assert "larger than 10 bytes (openapi_max_bytes)" in message


def test_invalid_schema_names_the_operation(tmp_path: Path) -> None:
    message = _error(
        tmp_path, _document(_body({"type": "object", "properties": {"a": {"type": 5}}}))
    )
    assert "operation 'make'" in message and "not a valid JSON Schema" in message
