"""``smolit knowledge ...`` against a real server on loopback, run through the CLI's edge."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from smolit.api import create_app
from smolit.cli.app import main
from tests.unit.helpers import small_system


@dataclass
class Server:
    url: str
    admin: str
    user: str
    docs: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "eggs.md").write_text("# Eggs\n\nBoil an egg for seven minutes.\n")
    (docs / "bread.txt").write_text("Bake bread at two hundred degrees.\n")
    system = small_system(tmp_path, knowledge={"chunk_words": 32, "chunk_overlap": 4})
    system.prepare()
    admin = system.tokens.create("root", "admin").secret
    user = system.tokens.create("bob", "user").secret
    # a socket that listens before the server runs: requests queue, nobody waits on time
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(create_app(system), log_level="warning", lifespan="on")
    uvi = uvicorn.Server(config)
    thread = threading.Thread(target=uvi.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", admin, user, docs)
    uvi.should_exit = True
    thread.join()
    sock.close()


def run(
    capsys: pytest.CaptureFixture[str], server: Server, *args: str, token: str | None = None
) -> tuple[int, str, str]:
    argv = ["knowledge", *args, "--url", server.url, "--token", token or server.admin]
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_add_source_then_list_sync_search_and_stats(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, server, "add-source", "cooking", str(server.docs))
    assert code == 0 and "2 added" in out
    code, out, _ = run(capsys, server, "sources", "--json")
    (source,) = json.loads(out)
    assert (source["status"], source["documents"]) == ("ok", 2)
    code, out, _ = run(capsys, server, "sync", "cooking")
    assert code == 0 and "2 unchanged" in out
    code, out, _ = run(capsys, server, "search", "cooking", "boil egg", "--mode", "keyword")
    assert code == 0 and out.startswith("1. Eggs")
    code, out, _ = run(capsys, server, "stats", "--json")
    assert json.loads(out)["collections"][0]["documents"] == 2


def test_relative_paths_are_sent_as_absolute(
    server: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(server.docs)
    code, out, _ = run(capsys, server, "add-source", "cooking", "eggs.md", "--json")
    assert code == 0 and json.loads(out)["source"]["location"] == str(server.docs / "eggs.md")


def test_remove_source_reports_removed_documents(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, server, "add-source", "cooking", str(server.docs))
    _, out, _ = run(capsys, server, "sources", "cooking", "--json")
    source_id = json.loads(out)[0]["id"]
    code, out, _ = run(capsys, server, "remove-source", "cooking", source_id)
    assert code == 0 and "2 documents" in out


def test_path_outside_the_allowed_roots_is_one_line_exit_2(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, server, "add-source", "cooking", "/etc")
    assert code == 2
    assert err.count("\n") == 1 and "knowledge.allowed_roots" in err and "Traceback" not in err


def test_a_failed_sync_exits_non_zero(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    (server.docs / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    code, out, _ = run(capsys, server, "add-source", "cooking", str(server.docs))
    assert code == 1 and "broken.pdf" in out and "corrupt" in out


def test_upload_and_list_documents(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, server, "upload", "cooking", str(server.docs / "bread.txt"))
    assert code == 0 and "1 added" in out
    code, out, _ = run(capsys, server, "documents", "cooking", "--json", token=server.user)
    assert [d["title"] for d in json.loads(out)] == ["bread"]


def test_reading_user_cannot_add_sources(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, server, "add-source", "cooking", str(server.docs), token=server.user)
    assert code == 1 and "HTTP 403" in err


@pytest.mark.parametrize(
    "command",
    ["add-source", "sources", "remove-source", "sync", "search", "stats", "upload", "documents"],
)
def test_every_knowledge_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["knowledge", command, "--help"])
    assert exited.value.code == 0 and "--url" in capsys.readouterr().out
