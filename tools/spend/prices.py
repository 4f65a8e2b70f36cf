"""Your prices: a TOML file named by GTO_PRICES, with rows like tools/data/models.toml's
([[model]] id, tuning_per_m, input_per_m, output_per_m, optional as_of), laid over the packaged catalog. Your price
wins and is cited as "your price" wherever a price is shown."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.catalog import Catalog

PRICES_ENV = "GTO_PRICES"
PRICE_FIELDS = ("tuning_per_m", "input_per_m", "output_per_m")
YOUR_PRICE = "your price"
_read: dict[tuple[str, float], list[dict]] = {}


def price_file() -> Path | None:
    raw = os.environ.get(PRICES_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def rows(path: Path) -> list[dict]:
    """The file's [[model]] rows (read again only when it changes)."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise ToolError(f"{PRICES_ENV} names {path}, which cannot be read.",
                        f"Point {PRICES_ENV} at a TOML file of [[model]] rows, or unset it.") from None
    if key not in _read:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ToolError(f"The price file {path} ({PRICES_ENV}) is not valid TOML: {exc}.",
                            'Write rows like: [[model]] id = "gemini-3.5-flash-lite" tuning_per_m = 5.0') from None
        found = raw.get("model", [])
        for row in found:
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise ToolError(f"The price file {path} has a [[model]] row without an id.",
                                'Each row needs id = "<model id>" and the prices it sets.')
            for name in PRICE_FIELDS:
                if name in row and not isinstance(row[name], (int, float)):
                    raise ToolError(f"The price file {path}: {row['id']} {name} = {row[name]!r} is not a number.",
                                    "Give USD per 1M tokens as a number.")
        _read[key] = found
    return _read[key]


def with_your_prices(packaged: Catalog) -> Catalog:
    """The catalog with the GTO_PRICES file's prices laid over it; the packaged one when the variable is unset."""
    path = price_file()
    if path is None:
        return packaged
    changed = {}
    for row in rows(path):
        model = packaged.find(row["id"])
        if model is None or model.family == "local-folder":
            continue
        update = {k: float(row[k]) for k in PRICE_FIELDS if k in row}
        update["source"] = f"{YOUR_PRICE} (from {path}, {PRICES_ENV})"
        update["as_of"] = str(row.get("as_of") or "your file")
        changed[model.id] = model.model_copy(update=update)
    if not changed:
        return packaged
    return packaged.model_copy(update={"models": [changed.get(m.id, m) for m in packaged.models]})


def is_yours(source: str | None) -> bool:
    return bool(source) and source.startswith(YOUR_PRICE)
