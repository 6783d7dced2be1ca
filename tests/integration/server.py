"""Start a real ``smolit serve`` process on a free loopback port, for integration tests."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

STARTUP_SECONDS = 180
SERVER_LOG = "server.log"

#: two agents with examples: enough for the router to tell tasks apart
TWO_AGENTS = """
agents:
  - name: cooking
    description: Cooking, recipes, kitchen techniques and food safety.
    examples:
      - How long do I boil an egg?
      - How do I roast a chicken?
  - name: travel
    description: Travel planning, flights, packing and passports.
    examples:
      - What should I pack for a week in Rome?
      - Do I need a visa for Japan?
"""


@dataclass
class RunningServer:
    url: str
    home: Path
    admin_token: str
    process: subprocess.Popen[bytes]
    verify: ssl.SSLContext | bool = True

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SMOLIT_HOME": str(self.home),
            "SMOLIT_URL": self.url,
            "SMOLIT_TOKEN": self.admin_token,
        }

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env()
        if token is not None:
            env["SMOLIT_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "smolit", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=self.verify,
            timeout=120,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
        )

    def stop(self) -> str:
        """Stop the server; its log (stdout and stderr)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log()

    def log(self) -> str:
        return (self.home / SERVER_LOG).read_text(encoding="utf-8", errors="replace")


def start_server(
    home: Path, config_text: str, port: int | None = None, ca_file: Path | None = None
) -> RunningServer:
    """Write ``config_text`` to ``<home>/smolit.yaml``, make an admin token and serve on
    ``port`` (a free one when absent; name it when the config's ``server.port`` must match,
    as for the live-server check of a restore). ``ca_file``: the config serves HTTPS with a
    certificate this file verifies."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "smolit.yaml").write_text(config_text, encoding="utf-8")
    env = {**os.environ, "SMOLIT_HOME": str(home)}
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "smolit",
            "token",
            "create",
            "--user",
            "admin",
            "--role",
            "admin",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    token = json.loads(created.stdout)["token"]
    port = port or free_port()
    # a file, not a pipe: an undrained pipe fills up and blocks the server's logging
    with (home / SERVER_LOG).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "smolit", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    url = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
    running = RunningServer(url, home, token, process, verify)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{running.log()[-5000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2, verify=verify).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start in {STARTUP_SECONDS} s:\n{running.log()[-5000:]}")
