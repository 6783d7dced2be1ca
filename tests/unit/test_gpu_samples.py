"""GPU sampling through ``nvidia-smi``: a stand-in script plays the driver's tool here
(this machine has no GPU); the parsing is the code that runs against the real one."""

import os
import stat
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smolit.metrics.resources import ResourceCollector
from smolit.monitor import gpus
from smolit.monitor.gpus import parse_nvidia_smi
from smolit.monitor.resources import ResourceMonitor

TWO_GPUS = "0, NVIDIA H100 80GB HBM3, 1024, 81559, 37\n1, NVIDIA A10, 0, 23028, [N/A]\n"


def fake_nvidia_smi(directory: Path, output: str, exit_code: int = 0) -> Path:
    """An executable ``nvidia-smi`` in ``directory`` that checks its arguments and prints
    ``output``."""
    script = directory / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "--query-gpu={gpus.QUERY}" ] || {{ echo "bad query $1" >&2; exit 9; }}\n'
        '[ "$2" = "--format=csv,noheader,nounits" ] || exit 9\n'
        f"cat <<'END'\n{output}END\n"
        f"exit {exit_code}\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_parse_reads_memory_in_mib_and_utilisation() -> None:
    first, second = parse_nvidia_smi(TWO_GPUS)
    assert (first.device, first.name) == (0, "NVIDIA H100 80GB HBM3")
    assert first.memory_used_bytes == 1024 * 1024 * 1024
    assert first.memory_total_bytes == 81559 * 1024 * 1024
    assert first.utilization_percent == 37.0
    assert second.utilization_percent is None  # [N/A]


def test_parse_keeps_commas_in_names_and_skips_broken_lines() -> None:
    samples = parse_nvidia_smi("0, Board, rev 2, 10, 20, 5\nnot a gpu line\nx, a, 1, 2, 3\n")
    assert [(s.device, s.name) for s in samples] == [(0, "Board, rev 2")]


def test_samples_come_from_nvidia_smi_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvidia_smi(tmp_path, TWO_GPUS)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert [sample.device for sample in gpus.gpu_samples()] == [0, 1]
    sample = ResourceMonitor(tmp_path).sample()
    assert sample.gpus[0].memory_total_bytes == 81559 * 1024 * 1024
    assert sample.to_dict()["gpus"][1]["name"] == "NVIDIA A10"


def test_a_failing_nvidia_smi_falls_back_to_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed\n", exit_code=9)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gpus, "torch_samples", lambda: [])
    assert gpus.nvidia_smi_samples(str(tmp_path / "nvidia-smi")) is None
    assert gpus.gpu_samples() == []


def test_without_nvidia_smi_torch_reports_no_gpu_on_its_cpu_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing called nvidia-smi there
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA build of torch with a GPU reports real devices here")
    assert gpus.gpu_samples() == []


def test_gpu_families_appear_in_metrics_when_a_gpu_is_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvidia_smi(tmp_path, TWO_GPUS)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    registry = CollectorRegistry()
    registry.register(ResourceCollector(ResourceMonitor(tmp_path)))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    used = [
        s.value
        for s in families["smolit_gpu_memory_bytes"].samples
        if s.labels == {"device": "0", "name": "NVIDIA H100 80GB HBM3", "kind": "used"}
    ]
    assert used == [1024 * 1024 * 1024]
    utilization = families["smolit_gpu_utilization_percent"].samples
    assert [(s.labels["device"], s.value) for s in utilization] == [("0", 37.0)]
