"""What the API, the CLI and ``/metrics`` show about models: plain dicts, one place."""

from __future__ import annotations

from typing import Any

from smolit.models.catalog import DEFAULT_ALIAS, LLM_KIND, definition_of
from smolit.models.manager import ModelManager
from smolit.models.stats import task_success_by_model
from smolit.models.versions import ModelVersion
from smolit.storage import Database


def version_view(
    version: ModelVersion, manager: ModelManager, success: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    view = version.to_dict()
    view["key"] = version.key
    if version.kind == LLM_KIND:
        view["backend"] = definition_of(version).backend
        view["loaded"] = version.key in manager.loaded()
        view["performance"] = {
            **manager.performance(version.key),
            **success.get(
                version.key, {"rated_tasks": 0, "successes": 0, "task_success_rate": None}
            ),
        }
    return view


def model_summaries(manager: ModelManager) -> list[dict[str, Any]]:
    """One row per model name: registered ones, then those outside the registry."""
    versions = manager.catalog.versions
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    if versions is not None:
        by_name: dict[str, list[ModelVersion]] = {}
        for version in versions.list():
            by_name.setdefault(version.name, []).append(version)
        for name, items in sorted(by_name.items()):
            aliases = versions.aliases(name)
            latest = items[-1]
            rows.append(
                {
                    "name": name,
                    "kind": latest.kind,
                    "backend": definition_of(latest).backend if latest.kind == LLM_KIND else None,
                    "versions": [v.version for v in items],
                    "latest": latest.version,
                    "aliases": aliases,
                    "serves": aliases.get(DEFAULT_ALIAS, latest.version),
                    "registered": True,
                }
            )
            seen.add(name)
    for name in manager.names():
        if name in seen:
            continue
        resolved = manager.resolve(name)
        rows.append(
            {
                "name": name,
                "kind": LLM_KIND,
                "backend": resolved.definition.backend,
                "versions": [],
                "latest": None,
                "aliases": {},
                "serves": None,
                "registered": False,
            }
        )
    return rows


def model_detail(manager: ModelManager, database: Database, name: str) -> dict[str, Any]:
    """Every version of ``name`` with its performance, its aliases and their history."""
    versions = manager.catalog.versions
    registered = versions.list(name) if versions is not None else []
    if not registered:
        resolved = manager.resolve(name)  # NotFoundError listing the known names
        return {
            "name": name,
            "registered": False,
            "backend": resolved.definition.backend,
            "definition": resolved.definition.model_dump(exclude_defaults=True),
            "loaded": resolved.key in manager.loaded(),
            "performance": manager.performance(resolved.key),
            "versions": [],
            "aliases": {},
            "history": [],
        }
    assert versions is not None
    success = task_success_by_model(database)
    return {
        "name": name,
        "registered": True,
        "kind": registered[-1].kind,
        "versions": [version_view(v, manager, success) for v in registered],
        "aliases": versions.aliases(name),
        "history": versions.history(name),
    }
