"""``smolit serve`` at its edge: TLS files checked before start, the bootstrap admin
token kept out of logs, the worker's metrics on loopback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smolit.cli.app import app
from smolit.cli.serve_cmd import print_banner
from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.metrics import MetricsServer
from smolit.security.tls import server_tls
from smolit.security.tokens import save_admin_token
from tests.certificates import other_key, self_signed

TOKEN = "snn_bootstrap-secret-value"


def settings_in(home: Path, **server: Any) -> Settings:
    settings = Settings(server=server)
    settings.home = home
    return settings


def test_tls_from_settings_is_checked_and_used(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tls = server_tls(settings_in(tmp_path, tls_cert=str(cert), tls_key=str(key)), None, None)
    assert tls is not None and (tls.cert, tls.key) == (cert, key)


def test_no_tls_files_serve_plain_http(tmp_path: Path) -> None:
    assert server_tls(settings_in(tmp_path), None, None) is None


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_tls_needs_both_files_and_names_the_missing_one(tmp_path: Path, missing: str) -> None:
    cert, key = self_signed(tmp_path)
    given = {"cert": None, "key": key} if missing == "cert" else {"cert": cert, "key": None}
    with pytest.raises(ConfigError, match=f"--tls-{missing} \\(server.tls_{missing}\\)"):
        server_tls(settings_in(tmp_path), given["cert"], given["key"])


def test_a_tls_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    with pytest.raises(ConfigError, match=r"nothere.key: file not found"):
        server_tls(settings_in(tmp_path), cert, tmp_path / "nothere.key")


def test_a_key_of_another_certificate_is_a_one_line_exit_2(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "smolit", "serve", "--tls-cert", str(cert),
         "--tls-key", str(other_key(tmp_path))],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SMOLIT_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot load the TLS certificate")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_admin_token_file_is_private_and_holds_the_token(tmp_path: Path) -> None:
    path = save_admin_token(tmp_path / "admin-token", TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == TOKEN


def test_the_admin_token_file_is_never_written_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "admin-token").symlink_to(target)
    save_admin_token(tmp_path / "admin-token", TOKEN)
    assert target.read_text() == "keep"
    assert not (tmp_path / "admin-token").is_symlink()


def banner(home: Path, capsys: pytest.CaptureFixture[str], terminal: bool) -> tuple[str, Path]:
    token_file = home / "admin-token"
    print_banner(settings_in(home), "https://h:1", TOKEN, token_file, terminal=terminal)
    return capsys.readouterr().out, token_file


def test_without_a_terminal_the_banner_names_the_file_not_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown, token_file = banner(tmp_path, capsys, terminal=False)
    assert TOKEN not in shown and str(token_file) in shown
    assert "https://h:1/docs" in shown


def test_on_a_terminal_the_banner_shows_the_token_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown, token_file = banner(tmp_path, capsys, terminal=True)
    assert TOKEN in shown and str(token_file) in shown


def test_worker_metrics_listen_on_loopback_by_default() -> None:
    server = MetricsServer([], 0)
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.close()


def test_the_worker_passes_metrics_host_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import smolit.cli.worker_cmd as worker_cmd
    import smolit.distributed.worker_process as worker_module

    seen: list[tuple[Any, ...]] = []

    class Recorder:
        def __init__(self, *args: Any) -> None:
            seen.append(args)

        def run(self) -> None:
            pass

    monkeypatch.setattr(worker_module, "TaskWorker", Recorder)
    # this process keeps its logging and threads
    monkeypatch.setattr(worker_cmd, "configure_logging", lambda *_args: None)
    monkeypatch.setattr("torch.set_num_threads", lambda _n: None)
    monkeypatch.setenv("SMOLIT_QUEUE", "redis://127.0.0.1:1/0")
    for extra, host in (([], "127.0.0.1"), (["--metrics-host", "0.0.0.0"], "0.0.0.0")):
        args = ["worker", "--home", str(tmp_path), "--metrics-port", "9100", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert seen[-1][2:] == (9100, host)
