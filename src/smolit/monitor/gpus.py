"""GPU memory and utilisation, read from ``nvidia-smi`` (or torch's CUDA API without it).

``nvidia-smi`` ships with the NVIDIA driver, so it sees every GPU of the host whatever
build of torch is installed (the default install is torch's CPU build, for which
``torch.cuda`` sees no device). Without it, a CUDA build of torch reports what it can:
memory always, utilisation when NVML (``pynvml``) is installed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: the fields asked of ``nvidia-smi``, in the order it prints them
QUERY = "index,name,memory.used,memory.total,utilization.gpu"
#: seconds one ``nvidia-smi`` call may take before the sample goes without GPUs
NVIDIA_SMI_TIMEOUT = 5.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuSample:
    device: int
    name: str
    memory_used_bytes: int
    memory_total_bytes: int
    #: percent of time a kernel ran over the last sample period; None when not reported
    utilization_percent: float | None


def parse_nvidia_smi(text: str) -> list[GpuSample]:
    """``nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits`` output, one GPU a line.

    Memory is in MiB; a field the driver does not report (``[N/A]``) gives None for
    utilisation, and a line that does not parse is skipped.
    """
    samples = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 5:
            continue
        index, *name_parts, used, total, utilization = fields
        try:
            sample = GpuSample(
                device=int(index),
                name=", ".join(name_parts),
                memory_used_bytes=int(float(used) * MIB),
                memory_total_bytes=int(float(total) * MIB),
                utilization_percent=_number(utilization),
            )
        except ValueError:
            logger.debug("skipping an nvidia-smi line that does not parse: %r", line)
            continue
        samples.append(sample)
    return samples


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def nvidia_smi_samples(executable: str) -> list[GpuSample] | None:
    """The GPUs ``executable`` reports; None when it fails (no driver loaded, say)."""
    try:
        done = subprocess.run(
            [executable, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("nvidia-smi failed: %s", exc)
        return None
    if done.returncode != 0:
        logger.debug("nvidia-smi exited %d: %s", done.returncode, done.stderr.strip())
        return None
    return parse_nvidia_smi(done.stdout)


def torch_samples() -> list[GpuSample]:
    """What a CUDA build of torch reports; empty with the CPU build or without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return []
    samples = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        try:
            utilization: float | None = float(torch.cuda.utilization(index))
        except Exception:  # torch raises several kinds when NVML (pynvml) is missing
            utilization = None
        samples.append(
            GpuSample(
                device=index,
                name=torch.cuda.get_device_name(index),
                memory_used_bytes=int(total - free),
                memory_total_bytes=int(total),
                utilization_percent=utilization,
            )
        )
    return samples


def gpu_samples() -> list[GpuSample]:
    """Memory and utilisation of each GPU of the host; empty without one."""
    executable = shutil.which("nvidia-smi")
    if executable is not None:
        samples = nvidia_smi_samples(executable)
        if samples is not None:
            return samples
    return torch_samples()
