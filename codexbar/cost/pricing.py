"""API list prices for Codex models: a bundled data file, user overrides, an optional LiteLLM copy.

Lookup order for a model: the user's `pricing.json` in the config folder, then the bundled
`prices.json` (with its dated historical rates and long-context rates), then the LiteLLM table
fetched by `codexbar pricing update` (only for models the bundled table lacks). A model found in
none of them is unpriced: its tokens count, its cost is unknown.

Prices are per 1M tokens. A request whose input exceeds the long-context threshold (272K) is
charged the model's `long` rates for all of its tokens; the threshold is applied per request by
the scanner, never to a day's sum.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from codexbar import paths

MILLION = Decimal(1_000_000)
DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
LITELLM_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)


def overrides_path() -> Path:
    return paths.config_dir() / "pricing.json"


def litellm_cache_path() -> Path:
    return paths.data_dir() / "litellm-openai-prices.json"


@dataclass(frozen=True)
class Rates:
    input: Decimal
    cached_input: Decimal
    cache_write: Decimal
    output: Decimal

    def cost(self, inp: int, cached: int, cache_write: int, output: int) -> Decimal:
        uncached = max(0, inp - cached - cache_write)
        return (
            uncached * self.input
            + cached * self.cached_input
            + cache_write * self.cache_write
            + output * self.output
        ) / MILLION


class PricingError(ValueError):
    pass


def _rates(entry: dict[str, Any], where: str) -> Rates:
    try:
        inp = Decimal(str(entry["input"]))
        output = Decimal(str(entry["output"]))
        cached = (
            Decimal(str(entry["cached_input"])) if entry.get("cached_input") is not None else inp
        )
        write = Decimal(str(entry["cache_write"])) if entry.get("cache_write") is not None else inp
    except (KeyError, ArithmeticError, TypeError, ValueError) as error:
        raise PricingError(f"{where}: needs numeric input and output prices ({error})") from None
    if min(inp, output, cached, write) < 0:
        raise PricingError(f"{where}: prices cannot be negative")
    return Rates(inp, cached, write, output)


@dataclass(frozen=True)
class ModelPrice:
    normal: Rates
    long: Rates | None
    history: tuple[tuple[str, Rates, Rates | None], ...]  # (until UTC day, normal, long)

    def rates(self, utc_day: str, long: bool) -> Rates:
        normal, long_rates = self.normal, self.long
        for until, old_normal, old_long in self.history:
            if utc_day < until:
                normal, long_rates = old_normal, old_long
                break
        return long_rates if long and long_rates is not None else normal


def _model_price(entry: Any, where: str) -> ModelPrice:
    if not isinstance(entry, dict):
        raise PricingError(f"{where}: expected an object with input and output prices")
    long = _rates(entry["long"], f"{where}.long") if entry.get("long") else None
    history = []
    for i, old in enumerate(entry.get("history") or ()):
        until = str(old.get("until", ""))[:10]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", until):
            raise PricingError(f"{where}.history[{i}]: 'until' must be a date")
        old_long = _rates(old["long"], f"{where}.history[{i}].long") if old.get("long") else None
        history.append((until, _rates(old, f"{where}.history[{i}]"), old_long))
    history.sort()
    return ModelPrice(_rates(entry, where), long, tuple(history))


@functools.cache
def _bundled() -> tuple[dict[str, ModelPrice], dict[str, str]]:
    """The prices shipped with codexbar, parsed once per process (the tray prices every few
    minutes)."""
    beside = Path(__file__).with_name("prices.json")
    if beside.is_file():  # an unpacked install; importlib.resources costs a fiftieth of start-up
        text = beside.read_text(encoding="utf-8")
    else:  # a zipped one
        from importlib import resources

        text = resources.files("codexbar.cost").joinpath("prices.json").read_text("utf-8")
    bundled = json.loads(text)
    models = {
        name: _model_price(entry, f"prices.json:{name}")
        for name, entry in bundled["models"].items()
    }
    return models, dict(bundled.get("aliases") or {})


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class PriceTable:
    models: dict[str, ModelPrice]
    aliases: dict[str, str]
    fallback: dict[str, ModelPrice]  # LiteLLM: only for models the other tables lack
    problems: list[str]

    @classmethod
    def load(cls, overrides: Path | None = None, litellm: Path | None = None) -> PriceTable:
        models, aliases = _bundled()
        models, aliases = dict(models), dict(aliases)
        problems: list[str] = []
        overrides = overrides or overrides_path()
        if overrides.exists():
            try:
                data = _load_json(overrides)
                entries = data.get("models", data) if isinstance(data, dict) else None
                if not isinstance(entries, dict):
                    raise PricingError('expected {"models": {"<model>": {...}}}')
                for name, entry in entries.items():
                    models[name.strip().lower()] = _model_price(entry, f"{overrides}:{name}")
            except (OSError, ValueError) as error:
                problems.append(f"Price overrides in {overrides} were not used: {error}")
        fallback: dict[str, ModelPrice] = {}
        litellm = litellm or litellm_cache_path()
        if litellm.exists():
            try:
                for name, entry in _load_json(litellm)["models"].items():
                    fallback[name] = _model_price(entry, f"{litellm}:{name}")
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"The LiteLLM price copy {litellm} was not used: {error}")
        return cls(models, aliases, fallback, problems)

    def version(self) -> str:
        """A hash of every price in the table: priced figures kept with it are still right
        while it is unchanged."""
        cached = self.__dict__.get("_version")
        if cached is None:
            text = repr((self.models, self.aliases, self.fallback))
            cached = self.__dict__["_version"] = f"{zlib.crc32(text.encode()):08x}"
        return cached

    def normalize(self, model: str) -> str:
        name = model.strip().lower()
        name = name.removeprefix("openai/")
        name = self.aliases.get(name, name)
        if name not in self.models:
            base = DATE_SUFFIX.sub("", name)
            if base in self.models or base in self.fallback:
                name = self.aliases.get(base, base)
        return name

    def lookup(self, model: str) -> ModelPrice | None:
        name = self.normalize(model)
        return self.models.get(name) or self.fallback.get(name)


def litellm_openai_entries(raw: Any) -> dict[str, dict[str, str]]:
    """Keep LiteLLM's `openai` chat entries, converted to our per-1M-token shape."""
    if not isinstance(raw, dict):
        raise PricingError("the LiteLLM file is not a JSON object")
    out: dict[str, dict[str, str]] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or entry.get("litellm_provider") != "openai":
            continue
        try:
            per_token = {
                "input": entry["input_cost_per_token"],
                "output": entry["output_cost_per_token"],
                "cached_input": entry.get("cache_read_input_token_cost"),
                "cache_write": entry.get("cache_creation_input_token_cost"),
            }
            converted = {
                key: str((Decimal(str(value)) * MILLION).normalize())
                for key, value in per_token.items()
                if value is not None
            }
        except (KeyError, ArithmeticError, ValueError):
            continue
        out[name.strip().lower().removeprefix("openai/")] = converted
    if not out:
        raise PricingError("the LiteLLM file has no openai entries")
    return out
