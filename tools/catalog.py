"""The model catalog: limits, prices and behaviour of each tunable base model, read from tools/data/models.toml."""

from __future__ import annotations

import json
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

from tools.errors import ToolError


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
    thinking: str
    thinking_min: int | None = None
    thinking_min_level: str | None = None
    tuning_regions: list[str] | None = None
    serving_locations: list[str] | None = None
    retirement: str | None = None
    source: str
    as_of: str

    @property
    def prices_known(self) -> bool:
        return min(self.tuning_per_m, self.input_per_m, self.output_per_m) >= 0

    def serving_location(self, region: str) -> str:
        """Where a model tuned in `region` answers: Gemini 3.x tuned models only through the multi-regions us/eu."""
        if not self.serving_locations or region in self.serving_locations:
            return region
        return "eu" if region.startswith("europe") and "eu" in self.serving_locations else self.serving_locations[0]


class Limits(BaseModel):
    max_validation_rows: int
    max_file_bytes: int
    recommended_min_examples: int
    source: str
    as_of: str


class Catalog(BaseModel):
    limits: Limits
    tuning_regions: list[str]
    models: list[ModelInfo]
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
        found = self.find(model_id)
        if found is None:
            known = ", ".join(m.id for m in self.models)
            raise ToolError(f"Unknown base model {model_id!r}.", f"Tunable models: {known}.")
        return found

    def regions_for(self, model: ModelInfo) -> list[str]:
        return model.tuning_regions or self.tuning_regions


def catalog() -> Catalog:
    """The packaged catalog, with the prices of the user's GTO_PRICES file (if any) laid over it."""
    from tools.spend.prices import with_your_prices

    return with_your_prices(packaged_catalog())


@cache
def packaged_catalog() -> Catalog:
    raw = tomllib.loads(resources.files("tools").joinpath("data/models.toml").read_text())
    return Catalog(limits=raw["limits"], tuning_regions=raw["regions"]["tuning"], models=raw["model"],
                   unconfirmed_regions=raw["regions"].get("unconfirmed", []))


LOCAL_BASE_MODEL = "gemma-3-270m"
