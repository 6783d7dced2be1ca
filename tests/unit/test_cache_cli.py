"""``python -m smolit.cache`` on a data directory, without a server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smolit.cache import CachedEncoder, EmbeddingCache
from smolit.cli.cache_cmd import main
from smolit.testing import LookupEncoder
from tests.unit.helpers import cache_signer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def seed(home: Path) -> None:
    cache = EmbeddingCache(home / "cache" / "embeddings", 1 << 20, signer=cache_signer())
    CachedEncoder(LookupEncoder(), cache).encode(["boil an egg", "bake bread"])
    cache.close()


def test_clear_embedding_empties_the_disk_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMOLIT_URL", raising=False)
    seed(tmp_path)
    code, out, _ = run(capsys, "clear", "--type", "embedding", "--home", str(tmp_path))
    assert code == 0 and "embedding (disk): 2 entries removed" in out
    code, out, _ = run(capsys, "stats", "--json", "--home", str(tmp_path))
    assert json.loads(out)["caches"]["embedding (disk)"]["entries"] == 0


def test_clear_all_says_where_in_memory_caches_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMOLIT_URL", raising=False)
    code, out, _ = run(capsys, "clear", "--home", str(tmp_path))
    assert code == 0
    assert "not cleared (memory, tensor, response)" in out and "SMOLIT_URL" in out


def test_an_in_memory_type_without_a_server_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMOLIT_URL", raising=False)
    code, _, err = run(capsys, "clear", "--type", "tensor", "--home", str(tmp_path))
    assert code != 0
    assert err.count("\n") == 1 and "live in the server process" in err


def test_an_unknown_type_lists_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "clear", "--type", "disk", "--home", str(tmp_path))
    assert code == 2 and "valid types: memory, tensor, embedding, response" in err


def test_an_unreachable_server_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "stats", "--url", "http://127.0.0.1:9", "--home", str(tmp_path))
    assert code == 1 and err.startswith("error: cannot reach the server")


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smolit.cache", "stats", "--home", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["caches"]["embedding (disk)"]["entries"] == 0
