"""In-process generation with a base model and any of its LoRA checkpoints.

Each base model loads once per process; its checkpoints are attached to it as named peft adapters, so comparing a
tuned checkpoint with its base or with another checkpoint costs no second copy of the weights. One generation at a
time per base model (the adapter switch is model state), which is also what two CPU cores can do."""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.backends.local.chat_format import ChatFormat, Conversation

DEFAULT_MAX_OUTPUT_TOKENS = 256


@dataclass
class Options:
    """Gemini generationConfig fields the local model honours. temperature None or 0 means greedy decoding."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Output:
    text: str
    finish_reason: str  # Gemini's: STOP or MAX_TOKENS
    prompt_tokens: int
    output_tokens: int
    latency_s: float


@dataclass
class LoadedBase:
    model: Any  # a PeftModel once an adapter is attached, else the plain transformers model
    tokenizer: Any
    fmt: ChatFormat
    adapters: dict[str, str] = field(default_factory=dict)  # adapter folder -> peft adapter name
    lock: threading.Lock = field(default_factory=threading.Lock)


_loaded: dict[str, LoadedBase] = {}
_loading = threading.Lock()


def load(base_model: str) -> LoadedBase:
    """The base model for this process, loaded on first use."""
    with _loading:
        if base_model not in _loaded:
            from tools.backends.local.weights import load_model

            model, tokenizer = load_model(base_model)
            _loaded[base_model] = LoadedBase(model, tokenizer, ChatFormat(tokenizer))
        return _loaded[base_model]


def _select_adapter(base: LoadedBase, adapter: Path | None) -> Any:
    """Make `adapter` the active one and return the model; with None, the context that turns adapters off."""
    from contextlib import nullcontext

    from peft import PeftModel

    if adapter is None:
        return base.model.disable_adapter() if isinstance(base.model, PeftModel) else nullcontext()
    key = str(adapter)
    if key not in base.adapters:
        name = f"checkpoint_{len(base.adapters)}"
        with warnings.catch_warnings():  # peft 0.21 calls an API transformers 5 deprecated; nothing to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            if isinstance(base.model, PeftModel):
                base.model.load_adapter(key, adapter_name=name)
            else:
                base.model = PeftModel.from_pretrained(base.model, key, adapter_name=name)
        base.model.eval()
        base.adapters[key] = name
    base.model.set_adapter(base.adapters[key])
    return nullcontext()


class _StopOnText:
    """Stops generation once the reply contains a stop sequence or the end-of-turn marker as text."""

    def __init__(self, fmt: ChatFormat, prompt_len: int, stops: list[str]):
        self.fmt, self.prompt_len, self.stops = fmt, prompt_len, stops

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        text, ended = self.fmt.decode_reply(input_ids[0, self.prompt_len:].tolist())
        done = ended or any(stop in text for stop in self.stops)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool)


def generate(base_model: str, adapter: Path | None, conversation: Conversation, options: Options) -> Output:
    """One reply from the base model with the given LoRA checkpoint (None: the base model itself)."""
    import torch
    from transformers import StoppingCriteriaList

    base = load(base_model)
    prompt = base.fmt.encode_prompt(conversation)
    max_new = options.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
    sampling = bool(options.temperature)
    kwargs: dict[str, Any] = {"do_sample": sampling}
    if sampling:
        kwargs.update(temperature=options.temperature, top_p=options.top_p or 1.0, top_k=options.top_k or 0)
    started = time.perf_counter()
    with base.lock, torch.no_grad(), _select_adapter(base, adapter):
        if options.seed is not None:
            torch.manual_seed(options.seed)
        if options.stop_sequences or len(base.fmt.end_ids) != 1:
            stop = _StopOnText(base.fmt, len(prompt), options.stop_sequences)
            kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
        ids = torch.tensor([prompt])
        out = base.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new,
                                  eos_token_id=base.fmt.stop_ids or None,
                                  pad_token_id=base.tokenizer.pad_token_id or 0, **kwargs)
    new = out[0, len(prompt):].tolist()
    text, ended = base.fmt.decode_reply(new)
    for stop in options.stop_sequences:
        if stop in text:
            text, ended = text.split(stop, 1)[0], True
    return Output(text=text, finish_reason="STOP" if ended else "MAX_TOKENS", prompt_tokens=len(prompt),
                  output_tokens=len(new), latency_s=time.perf_counter() - started)


def count_tokens(base_model: str, conversation: Conversation) -> int:
    """The prompt tokens the model would see for this conversation."""
    return len(load(base_model).fmt.encode_prompt(conversation))
