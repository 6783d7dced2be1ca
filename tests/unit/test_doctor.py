"""``smolit doctor``: each check finds what is wrong and says how to fix it."""

from __future__ import annotations

from pathlib import Path

from smolit.config import ModelDefinition, Settings
from smolit.doctor import diagnose
from smolit.models.versions import ModelVersions
from smolit.storage import Database
from tests.conftest import free_port
from tests.unit.test_cli import smolit


def settings_in(home: Path, **fields: object) -> Settings:
    settings = Settings(**fields)  # type: ignore[arg-type]
    settings.home = home
    return settings


def levels(settings: Settings) -> dict[str, str]:
    worst: dict[str, str] = {}
    order = {"ok": 0, "warn": 1, "fail": 2}
    for finding in diagnose(settings):
        if order[finding.level] >= order.get(worst.get(finding.check, "ok"), 0):
            worst[finding.check] = finding.level
    return worst


def test_a_fresh_migrated_installation_is_healthy(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    Database(settings.database_url).migrate()
    found = levels(settings)
    assert found["database"] == "ok" and found["model"] == "ok" and found["encoder"] == "ok"
    assert found["redis"] == "ok" and found["disk"] in ("ok", "warn")


def test_an_unmigrated_database_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    (finding,) = [f for f in diagnose(settings_in(tmp_path)) if f.check == "database"]
    assert finding.level == "warn" and "smolit serve" in finding.fix


def test_unreachable_redis_and_postgres_fail_naming_them(tmp_path: Path) -> None:
    port = free_port()
    settings = settings_in(
        tmp_path,
        queue=f"redis://127.0.0.1:{port}/0",
        storage=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none",
    )
    findings = {f.check: f for f in diagnose(settings)}
    assert findings["redis"].level == "fail" and str(port) in findings["redis"].message
    assert findings["database"].level == "fail" and "secret" not in findings["database"].message


def test_a_broken_model_definition_and_a_changed_registry_file_fail(tmp_path: Path) -> None:
    settings = settings_in(
        tmp_path,
        models={
            "default_model": "gone",
            "definitions": {"gone": ModelDefinition(backend="transformers", path="/no/such.gguf")},
        },
    )
    database = Database(settings.database_url)
    database.migrate()
    source = tmp_path / "weights.bin"
    source.write_bytes(b"original")
    version = ModelVersions(database, settings.models_dir).register_files("m", "llm", source)
    assert version.path is not None
    version.path.write_bytes(b"tampered")
    database.dispose()
    findings = [f for f in diagnose(settings) if f.level == "fail"]
    assert {f.check for f in findings} == {"model", "registry"}
    assert any("checksum mismatch" in f.message for f in findings)


def test_the_cli_exits_1_and_prints_fixes(tmp_path: Path) -> None:
    (tmp_path / "smolit.yaml").write_text(f"queue: redis://127.0.0.1:{free_port()}/0\n")
    result = smolit("doctor", home=tmp_path)
    assert result.returncode == 1
    assert "FAIL  redis" in result.stdout and "fix:" in result.stdout


def test_the_cli_reports_a_broken_configuration(tmp_path: Path) -> None:
    (tmp_path / "smolit.yaml").write_text("system: {max_concurrent_tasks: -3}\n")
    result = smolit("doctor", "--json", home=tmp_path)
    assert result.returncode == 1 and "configuration" in result.stdout
