"""Local cost scanner: exact token totals from Codex session logs, priced at API list prices.

The names below are loaded when first used: the scan's second process imports
`codexbar.cost.worker` and must not pay for the summary, the cache and the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codexbar.cost.summary import CostSummary, DayFigures, Figures, cost_summary

__all__ = ["CostSummary", "DayFigures", "Figures", "cost_summary"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from codexbar.cost import summary

        return getattr(summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
