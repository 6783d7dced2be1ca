"""``ModelVersions`` on SQLite and PostgreSQL: files, numbering, checksums and aliases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smolit.errors import ConflictError, NotFoundError, ValidationError
from smolit.models.versions import ModelVersions
from smolit.storage import Database


@pytest.fixture
def versions(database_url: str, tmp_path: Path) -> Iterator[ModelVersions]:
    database = Database(database_url)
    database.migrate()
    yield ModelVersions(database, tmp_path / "models")
    database.dispose()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    source = tmp_path / "checkpoint"
    (source / "sub").mkdir(parents=True)
    (source / "weights.bin").write_bytes(b"\x00\x01\x02")
    (source / "sub" / "config.json").write_text('{"dim": 4}')
    return source


def test_register_directory_copies_files_into_v1(
    versions: ModelVersions, files: Path, tmp_path: Path
) -> None:
    version = versions.register_files("router", "neural", files, created_by="alice")
    target = tmp_path / "models" / "router" / "v1"
    assert (version.name, version.version, version.path) == ("router", 1, target.resolve())
    assert (target / "weights.bin").read_bytes() == b"\x00\x01\x02"
    assert (target / "sub" / "config.json").read_text() == '{"dim": 4}'
    assert (version.size_bytes, version.created_by) == (13, "alice")


def test_a_second_registration_is_v2(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    second = versions.register_files("router", "neural", files)
    assert second.version == 2
    assert second.path is not None
    assert (second.path / "weights.bin").exists()


def test_the_checksum_follows_the_file_contents(versions: ModelVersions, files: Path) -> None:
    first = versions.register_files("router", "neural", files)
    same = versions.register_files("router", "neural", files)
    (files / "weights.bin").write_bytes(b"\x09")
    changed = versions.register_files("router", "neural", files)
    assert first.checksum == same.checksum != changed.checksum


def test_list_get_and_latest(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files, params={"epochs": 3})
    versions.register_files("router", "neural", files)
    versions.register_files("other", "neural", files)
    assert [(v.name, v.version) for v in versions.list()] == [
        ("other", 1),
        ("router", 1),
        ("router", 2),
    ]
    assert [v.version for v in versions.list("router")] == [1, 2]
    assert versions.get("router", 1).params == {"epochs": 3}
    latest = versions.latest("router")
    assert latest is not None and latest.version == 2


def test_latest_of_an_unknown_name_is_none(versions: ModelVersions) -> None:
    assert versions.latest("ghost") is None


def test_get_of_a_missing_version_lists_the_versions(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    versions.register_files("router", "neural", files)
    with pytest.raises(NotFoundError, match=r"no version 5 \(versions: \[1, 2\]\)"):
        versions.get("router", 5)


def test_resolve_follows_an_alias(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    versions.register_files("router", "neural", files)
    versions.set_alias("router", "production", 1)
    resolved = versions.resolve("router@production")
    assert resolved is not None and resolved.version == 1


def test_set_alias_moves_an_existing_alias(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    versions.register_files("router", "neural", files)
    versions.set_alias("router", "production", 1)
    versions.set_alias("router", "production", 2)
    resolved = versions.resolve("router@production")
    assert resolved is not None and resolved.version == 2


def test_resolve_a_version_number(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    versions.register_files("router", "neural", files)
    resolved = versions.resolve("router@1")
    assert resolved is not None and resolved.version == 1


def test_resolve_a_bare_name_is_the_latest(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    versions.register_files("router", "neural", files)
    bare, tagged = versions.resolve("router"), versions.resolve("router@latest")
    assert bare is not None and tagged is not None
    assert bare.version == tagged.version == 2


def test_resolve_an_unknown_alias_is_not_found(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        versions.resolve("router@staging")


@pytest.mark.parametrize("alias", ["Production", "latest", "1st", "", "a" * 33])
def test_an_invalid_alias_is_rejected(versions: ModelVersions, files: Path, alias: str) -> None:
    versions.register_files("router", "neural", files)
    with pytest.raises(ValidationError, match="invalid alias"):
        versions.set_alias("router", alias, 1)


def test_an_alias_to_a_missing_version_is_not_found(versions: ModelVersions, files: Path) -> None:
    versions.register_files("router", "neural", files)
    with pytest.raises(NotFoundError):
        versions.set_alias("router", "production", 3)


def test_resolve_a_name_without_versions_is_none(versions: ModelVersions) -> None:
    assert versions.resolve("ghost") is None


def test_register_files_keeps_a_single_file_by_name(
    versions: ModelVersions, tmp_path: Path
) -> None:
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"GGUF-weights")
    version = versions.register_files("tiny", "llm", weights, notes="first")
    assert version.path == (tmp_path / "models" / "tiny" / "v1" / "tiny.gguf").resolve()
    assert version.path.read_bytes() == b"GGUF-weights"
    assert (version.size_bytes, version.notes, version.key) == (12, "first", "tiny@1")


def test_register_reference_copies_nothing(versions: ModelVersions, tmp_path: Path) -> None:
    version = versions.register_reference(
        "remote", "llm", source="http://api/v1", params={"definition": {"backend": "openai"}}
    )
    assert (version.version, version.path, version.checksum) == (1, None, "")
    assert not (tmp_path / "models" / "remote").exists()
    assert versions.names() == ["remote"]


def _three_versions(versions: ModelVersions) -> None:
    for _ in range(3):
        versions.register_reference("m", "llm")


def test_rollback_walks_back_through_promotions(versions: ModelVersions) -> None:
    _three_versions(versions)
    for number in (1, 2, 3):
        versions.set_alias("m", "production", number, created_by="ops")
    assert versions.rollback("m", "production") == 2
    assert versions.rollback("m", "production") == 1
    assert versions.aliases("m") == {"production": 1}
    with pytest.raises(ConflictError, match="no earlier version"):
        versions.rollback("m", "production")
    actions = [(e["action"], e["version"], e["undone"]) for e in versions.history("m")]
    assert actions == [
        ("promote", 1, False),
        ("promote", 2, True),
        ("promote", 3, True),
        ("rollback", 2, False),
        ("rollback", 1, False),
    ]


def test_promote_after_rollback_starts_from_the_restored_version(
    versions: ModelVersions,
) -> None:
    _three_versions(versions)
    versions.set_alias("m", "production", 1)
    versions.set_alias("m", "production", 2)
    versions.rollback("m", "production")
    versions.set_alias("m", "production", 3)
    assert versions.rollback("m", "production") == 1


def test_remove_refuses_a_version_an_alias_points_at(versions: ModelVersions) -> None:
    _three_versions(versions)
    versions.set_alias("m", "production", 2)
    with pytest.raises(ConflictError, match="m@production"):
        versions.remove("m", 2)
    removed = versions.remove("m", 2, force=True)
    assert removed.version == 2
    assert [v.version for v in versions.list("m")] == [1, 3]
    assert versions.aliases("m") == {}


def test_remove_deletes_owned_files_only(
    versions: ModelVersions, files: Path, tmp_path: Path
) -> None:
    owned = versions.register_files("m", "llm", files)
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(b"x")
    versions.register_reference("m", "llm", path=str(outside))
    versions.remove("m", owned.version)
    versions.remove("m", 2)
    assert owned.path is not None and not owned.path.exists() and outside.exists()


def test_rollback_to_a_removed_version_is_refused(versions: ModelVersions) -> None:
    _three_versions(versions)
    versions.set_alias("m", "production", 1)
    versions.set_alias("m", "production", 2)
    versions.remove("m", 1)
    with pytest.raises(ConflictError, match="removed"):
        versions.rollback("m", "production")


def test_unknown_names_and_versions_list_what_exists(versions: ModelVersions) -> None:
    _three_versions(versions)
    with pytest.raises(NotFoundError, match=r"versions: \[1, 2, 3\]"):
        versions.get("m", 9)
    with pytest.raises(NotFoundError, match="registered models: m"):
        versions.get("other", 1)
    with pytest.raises(NotFoundError, match="aliases: none"):
        versions.resolve("m@staging")


@pytest.mark.parametrize("name", ["Bad", "has space", "", "x" * 65])
def test_invalid_model_names_are_refused(versions: ModelVersions, name: str) -> None:
    with pytest.raises(ValidationError, match="invalid model name"):
        versions.register_reference(name, "llm")
