"""ml.* instance types -> container CPU and memory limits.

vCPUs follow EC2's size names (large = 2, xlarge = 4, Nxlarge = 4N, medium = 2, small/micro = 2)
and memory per vCPU follows the family (c: 2 GiB, m/t/g: 4 GiB, r: 8 GiB, p3: 7.6 GiB, ...).
Limits are capped at what this machine has: they bound a job, they do not reserve anything.
See docs/configuration.md for the table this produces.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

GIB = 1024 ** 3

# GiB of memory per vCPU, by the letters that start the family name.
MEMORY_PER_VCPU = {"c": 2.0, "m": 4.0, "t": 4.0, "r": 8.0, "x": 16.0, "z": 8.0, "g": 4.0, "p": 7.6,
                   "inf": 2.0, "trn": 4.0}
GPUS = {"ml.p3.2xlarge": 1, "ml.p3.8xlarge": 4, "ml.p3.16xlarge": 8, "ml.g4dn.xlarge": 1, "ml.g4dn.2xlarge": 1,
        "ml.g5.xlarge": 1, "ml.g5.2xlarge": 1, "ml.g5.12xlarge": 4, "ml.p4d.24xlarge": 8}


@dataclass(frozen=True)
class Limits:
    vcpus: int
    memory_bytes: int
    gpus: int = 0


def _vcpus(size: str) -> int:
    if size in ("nano", "micro", "small", "medium", "large"):
        return 2
    if size == "xlarge":
        return 4
    match = re.fullmatch(r"(\d+)xlarge", size)
    return 4 * int(match.group(1)) if match else 2


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * GIB


def nominal(instance_type: str) -> Limits:
    """What AWS gives the instance type (before capping to this machine)."""
    match = re.fullmatch(r"ml\.([a-z]+)(\d+)[a-z]*\.(\w+)", instance_type or "")
    if not match:
        return Limits(2, 4 * GIB)
    family, _, size = match.groups()
    vcpus = _vcpus(size)
    per_cpu = MEMORY_PER_VCPU.get(family, MEMORY_PER_VCPU.get(family[:1], 4.0))
    memory = vcpus * per_cpu * GIB
    if size in ("medium", "small", "micro", "nano"):
        memory = {"medium": 4, "small": 2, "micro": 1, "nano": 0.5}[size] * GIB  # burstable sizes
    return Limits(vcpus, int(memory), GPUS.get(instance_type, 0))


def limits_for(instance_type: str) -> Limits:
    want = nominal(instance_type)
    cpus = min(want.vcpus, os.cpu_count() or 1)
    memory = min(want.memory_bytes, _host_memory())
    return Limits(cpus, memory, want.gpus)
