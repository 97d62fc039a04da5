""""Each Mu is a Hero" (亩均论英雄): per-mu evaluation of enterprises, the jurisdiction's
report and the enterprise's own view (docs/each-mu.md)."""

from plantstream.reports.mu.config import EachMuConfig, Jurisdiction, load_each_mu
from plantstream.reports.mu.scoring import EnterpriseInputs, Evaluation, evaluate, next_class

__all__ = [
    "EachMuConfig",
    "EnterpriseInputs",
    "Evaluation",
    "Jurisdiction",
    "evaluate",
    "load_each_mu",
    "next_class",
]
