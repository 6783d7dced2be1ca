"""scripts/check_lazy_imports.py: an import inside a function must not dodge a cycle."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_lazy_imports", ROOT / "scripts" / "check_lazy_imports.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"pkg/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_function_level_import_closing_a_cycle_is_reported(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "pkg/low.py": "def load():\n    from pkg.high import thing\n    return thing\n",
            "pkg/high.py": "from pkg.low import load\nthing = 1\n",
        },
    )
    (found,) = _checker().dodges(src, "pkg")
    assert "pkg.low -> pkg.high -> pkg.low" in found


def test_a_cycle_through_a_package_init_is_reported(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "pkg/low.py": "def load():\n    from pkg.sub.leaf import thing\n    return thing\n",
            "pkg/sub/__init__.py": "from pkg.sub.user import use\n",
            "pkg/sub/user.py": "from pkg.low import load\nuse = load\n",
            "pkg/sub/leaf.py": "thing = 1\n",
        },
    )
    assert len(_checker().dodges(src, "pkg")) == 1


def test_a_lazy_import_without_a_cycle_passes(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "pkg/low.py": "thing = 1\n",
            "pkg/high.py": "def load():\n    import torch\n    from pkg.low import thing\n",
        },
    )
    assert _checker().dodges(src, "pkg") == []


def test_type_only_imports_are_not_load_time_imports(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "pkg/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from pkg.high import thing\n",
            "pkg/high.py": "def load():\n    from pkg.low import TYPE_CHECKING\n",
        },
    )
    assert _checker().dodges(src, "pkg") == []


def test_smolit_has_no_import_dodging_a_cycle() -> None:
    assert _checker().dodges(ROOT / "src", "smolit") == []
