"""The model catalog: limits, prices, lifecycle and behaviour of each base model, read from tools/data/models.toml.

It is the one owner of two questions: which models may be tuned today (retired and blocked ones are refused, with
their successor named), and which model is the default (for tuning and for the Gemini brain), never a retired one.
"Today" comes from `clock`, which tests replace to pin a date."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ToolError

Status = Literal["current", "retiring", "blocked", "retired"]
TUNABLE = ("current", "retiring")
# Where a person checks what the catalog says about a model's lifecycle.
LIFECYCLE_PAGE = "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/model-versions"


def _utc_today() -> date:
    return datetime.now(UTC).date()


clock: Callable[[], date] = _utc_today


def today() -> date:
    """The date lifecycles are judged on; tests set tools.catalog.clock to pin it."""
    return clock()


def _date(text: str) -> date | None:
    found = re.match(r"\s*(\d{4}-\d{2}-\d{2})", text or "")
    return date.fromisoformat(found.group(1)) if found else None


class PriceChange(BaseModel):
    """An announced inference price that applies from a date on (e.g. the end of an introductory price)."""

    model_config = ConfigDict(populate_by_name=True)
    starts: date = Field(alias="from")
    input_per_m: float
    output_per_m: float


class Lifecycle(BaseModel):
    """A model's lifecycle judged on one day: what a person is told, and whether it may still be tuned."""

    model: str
    status: Status
    on: date
    release: str = ""
    blocked_for_new_tuning: str = ""
    retirement: str = ""
    days_to_retirement: int | None = Field(None, description="from `on`; negative once retired")
    successor: str | None = Field(None, description="the model to use instead, itself tunable today")
    message: str = Field("", description="one sentence for a person; empty when nothing needs saying")

    @property
    def tunable(self) -> bool:
        return self.status in TUNABLE


class ModelInfo(BaseModel):
    id: str
    aliases: list[str] = Field(default_factory=list)
    family: str
    backend: str
    adapter_sizes: list[int]
    max_tokens_per_example: int
    tuning_per_m: float
    input_per_m: float
    output_per_m: float
    price_changes: list[PriceChange] = Field(default_factory=list)
    thinking: Literal["none", "budget", "level"]
    thinking_min: int | None = Field(None, description="lowest thinking budget accepted (budget models)")
    thinking_min_level: str | None = Field(None, description="lowest thinking level accepted (level models)")
    thinking_levels: list[str] = Field(default_factory=list)
    thinking_default: str | None = None
    tuning_locations: list[str] | None = Field(None, description="where jobs are created, per the newest docs")
    legacy_tuning_regions: list[str] | None = Field(None, description="single regions an older snapshot named")
    serving_locations: list[str] | None = None
    cmek: bool | None = None
    release: str = ""
    blocked_for_new_tuning: str = ""
    retirement: str = ""
    successor: str = ""
    successor_alt: list[str] = Field(default_factory=list)
    status: Status = Field("current", description="as recorded on as_of; lifecycle() judges it on a given day")
    unconfirmed: list[str] = Field(default_factory=list)
    notes: str = ""
    source: str
    as_of: str

    @property
    def prices_known(self) -> bool:
        return min(self.tuning_per_m, self.input_per_m, self.output_per_m) >= 0

    def prices_on(self, day: date | None = None) -> tuple[float, float]:
        """Inference (input, output) USD per 1M tokens on `day`: the latest announced change that has started."""
        day = day or today()
        started = [c for c in self.price_changes if c.starts <= day]
        latest = max(started, key=lambda c: c.starts, default=None)
        return (latest.input_per_m, latest.output_per_m) if latest else (self.input_per_m, self.output_per_m)

    def serving_location(self, region: str) -> str:
        """Where a model tuned in `region` answers: Gemini 3.x tuned models only through multi-regions or global."""
        if not self.serving_locations or region in self.serving_locations:
            return region
        return "eu" if region.startswith("europe") and "eu" in self.serving_locations else self.serving_locations[0]

    def status_on(self, day: date, warn_days: int = 60) -> Status:
        retirement, blocked = _date(self.retirement), _date(self.blocked_for_new_tuning)
        guaranteed = "or later" in self.retirement  # the earliest date Google promises, not an announced end
        if retirement and not guaranteed:
            if retirement <= day:
                return "retired"
            # MV: new tuning access ends a month before retirement; used when no blocked date is recorded.
            if (blocked or retirement - timedelta(days=30)) <= day:
                return "blocked"
            if (retirement - day).days <= warn_days:
                return "retiring"
        elif self.status in ("retired", "blocked"):
            return self.status
        elif retirement and (retirement - day).days <= warn_days:
            return "retiring"
        return "current"


class Limits(BaseModel):
    max_validation_rows: int
    max_file_bytes: int
    max_training_examples_text: int | None = None
    max_training_examples_multimodal: int | None = None
    recommended_min_examples: int
    source: str
    as_of: str


class Defaults(BaseModel):
    tuning_base_model: str
    tuning_base_model_alt: str | None = None
    brain_model: str
    brain_model_thinking_level: str | None = None
    brain_model_fallback: str | None = None
    local_base_model: str = "gemma-3-270m"
    why: str = ""
    source: str = ""
    as_of: str = ""


class Catalog(BaseModel):
    limits: Limits
    tuning_regions: list[str]
    models: list[ModelInfo]
    defaults: Defaults
    warn_days_before_retirement: int = 60
    unconfirmed_regions: list[str] = Field(default_factory=list, description="in tuning_regions on weak evidence")

    def find(self, model_id: str) -> ModelInfo | None:
        key = model_id.strip().lower().removeprefix("publishers/google/models/").removeprefix("models/")
        for m in self.models:
            if key == m.id or key in m.aliases:
                return m
        return self._local_folder(model_id)

    def _local_folder(self, path: str) -> ModelInfo | None:
        """A local Hugging Face model folder tunes like gemma-3-270m on the local backend, within its own context."""
        config = Path(path).expanduser() / "config.json"
        if not config.is_file():
            return None
        try:
            settings = json.loads(config.read_text())
        except (OSError, ValueError):
            return None
        settings = settings.get("text_config", settings)
        base = next(m for m in self.models if m.id == LOCAL_BASE_MODEL)
        context = settings.get("max_position_embeddings") or base.max_tokens_per_example
        return base.model_copy(update={"id": path, "aliases": [], "family": "local-folder",
                                       "max_tokens_per_example": int(context),
                                       "source": f"local model folder {path} (its config.json)"})

    def get(self, model_id: str) -> ModelInfo:
        """The row of a model, whatever its lifecycle (past jobs of a retired model still need it)."""
        found = self.find(model_id)
        if found is None:
            known = ", ".join(m.id for m in self.models if self.lifecycle(m).tunable)
            raise ToolError(f"Unknown base model {model_id!r}.", f"Tunable models today: {known}.")
        return found

    def tunable(self, model_id: str, day: date | None = None) -> ModelInfo:
        """The row of a model that may be tuned today; a retired or blocked one is refused, its successor named."""
        model = self.get(model_id)
        life = self.lifecycle(model, day)
        if life.tunable:
            return model
        others = [m for m in model.successor_alt if m != life.successor and self.lifecycle(m, day).tunable]
        alt = f" (or {', '.join(others)})" if others else ""
        use = (f"Use its successor {life.successor}{alt}: base_model='{life.successor}'" if life.successor
               else "Pick another model")
        raise ToolError(life.message, f"{use}. `gto models` (list_models) shows the models tunable today.")

    def lifecycle(self, model: ModelInfo | str, day: date | None = None) -> Lifecycle:
        """A model's status on `day` (default today), with its successor and the sentence a person is told."""
        model = self.get(model) if isinstance(model, str) else model
        day = day or today()
        status = model.status_on(day, self.warn_days_before_retirement)
        retirement = _date(model.retirement)
        days = (retirement - day).days if retirement else None
        successor = self.successor_of(model.id, day) if status != "current" else None
        instead = f"; its successor is {successor}" if successor else ""
        message = {
            "current": "",
            "retiring": (f"{model.id} is guaranteed only until {retirement} ({days} days from {day}); check "
                         f"{LIFECYCLE_PAGE}." if "or later" in model.retirement else
                         f"{model.id} retires on {model.retirement} ({days} days from {day}){instead}; tuned "
                         "models of it stop answering then too."),
            "blocked": f"{model.id} is blocked for new tuning since {model.blocked_for_new_tuning or 'a month before'} "
                       f"and retires on {model.retirement}{instead}.",
            "retired": f"{model.id} was retired on {model.retirement or 'an earlier date'} (Vertex AI / Gemini "
                       f"Enterprise Agent Platform): it can no longer be tuned or served{instead}.",
        }[status]
        return Lifecycle(model=model.id, status=status, on=day, release=model.release,
                         blocked_for_new_tuning=model.blocked_for_new_tuning, retirement=model.retirement,
                         days_to_retirement=days, successor=successor, message=message)

    def successor_of(self, model_id: str, day: date | None = None) -> str | None:
        """The model to use instead of `model_id`: its successor, followed on while that one is itself retired."""
        day = day or today()
        seen: set[str] = set()
        model = self.find(model_id)
        while model is not None and model.id not in seen:
            seen.add(model.id)
            for name in (model.successor, *model.successor_alt):
                found = self.find(name) if name else None
                if found is not None and found.status_on(day, self.warn_days_before_retirement) in TUNABLE:
                    return found.id
            model = self.find(model.successor) if model.successor else None
        return None

    def warning(self, model_id: str, day: date | None = None) -> str | None:
        """The lifecycle sentence for a model near retirement (or past it), for validate, estimate and the report."""
        model = self.find(model_id)
        if model is None:
            return None
        return self.lifecycle(model, day).message or None

    def default_tuning_model(self, backend: str = "vertex", day: date | None = None) -> str:
        """The base model to tune when none is named: the catalog's default, never a retired or blocked one."""
        if backend == "local":
            return self.defaults.local_base_model
        return self._first_usable([self.defaults.tuning_base_model, self.defaults.tuning_base_model_alt], day)

    def default_brain_model(self, day: date | None = None) -> str:
        """The Gemini model the agent itself talks with when none is named (never a retired one)."""
        return self._first_usable([self.defaults.brain_model, self.defaults.brain_model_fallback], day)

    def _first_usable(self, preferred: list[str | None], day: date | None) -> str:
        candidates = [m for m in (self.find(p) for p in preferred if p) if m is not None]
        candidates += sorted((m for m in self.models if m.backend == "vertex"),
                             key=lambda m: _date(m.retirement) or date.max, reverse=True)
        for model in candidates:
            if self.lifecycle(model, day).tunable:
                return model.id
        raise ToolError("Every Gemini model in the catalog is retired.",
                        f"Update tools/data/models.toml from {LIFECYCLE_PAGE}.")

    def regions_for(self, model: ModelInfo) -> list[str]:
        return [*(model.tuning_locations or []), *(model.legacy_tuning_regions or [])] or self.tuning_regions


def catalog() -> Catalog:
    """The packaged catalog, with the prices of the user's GTO_PRICES file (if any) laid over it."""
    from tools.spend.prices import with_your_prices

    return with_your_prices(packaged_catalog())


@cache
def packaged_catalog() -> Catalog:
    raw = tomllib.loads(resources.files("tools").joinpath("data/models.toml").read_text())
    return Catalog(limits=raw["limits"], tuning_regions=raw["regions"]["tuning"], models=raw["model"],
                   defaults=raw["defaults"],
                   warn_days_before_retirement=raw.get("lifecycle", {}).get("warn_days_before_retirement", 60),
                   unconfirmed_regions=raw["regions"].get("unconfirmed", []))


def successor_of(model_id: str) -> str | None:
    """The model to propose instead of a retired or blocked `model_id` (for the planner); None when there is none."""
    return catalog().successor_of(model_id)


def default_tuning_model(backend: str = "vertex") -> str:
    return catalog().default_tuning_model(backend)


def default_brain_model() -> str:
    return catalog().default_brain_model()


LOCAL_BASE_MODEL = "gemma-3-270m"
