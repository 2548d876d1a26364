"""Local cost scanner: exact token totals from Codex session logs, priced at API list prices."""

from codexbar.cost.summary import CostSummary, DayFigures, Figures, cost_summary

__all__ = ["CostSummary", "DayFigures", "Figures", "cost_summary"]
