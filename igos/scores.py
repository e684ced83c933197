"""Which model output a gradient method differentiates: logit, probability or log-probability."""
from __future__ import annotations

import torch

from .types import SCORES


def check_score(score: str) -> str:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    return score


def select_score(logits: torch.Tensor, target: torch.Tensor, score: str = "logit") -> torch.Tensor:
    """Score of class ``target[i]`` for row ``i`` of ``logits`` ``[N, K]`` -> ``[N]``.

    ``"logit"`` is the pre-softmax score z_c, ``"prob"`` the post-softmax y_c and
    ``"log_prob"`` log y_c computed stably with log-sum-exp.
    """
    check_score(score)
    if score == "prob":
        out = logits.softmax(dim=1)
    elif score == "log_prob":
        out = logits.log_softmax(dim=1)
    else:
        out = logits
    return out.gather(1, target.view(-1, 1)).squeeze(1)
