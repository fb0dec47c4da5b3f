"""Protobuf responses → gymnasium observations and info dicts."""

from __future__ import annotations

from typing import Any

import numpy as np

from medgym._proto import pb

__all__ = ["observation", "reset_info", "step_info", "step_result"]


def observation(o: pb.Observation) -> dict[str, Any]:
    """The gymnasium observation: the text plus turn, money spent and discomfort (0-d arrays)."""
    return {
        "text": o.text,
        "turn": np.asarray(o.turn, dtype=np.int64),
        "cost_usd": np.asarray(o.cost_usd, dtype=np.float64),
        "discomfort": np.asarray(o.discomfort, dtype=np.int64),
    }


def _observation_info(o: pb.Observation, info: pb.Info) -> dict[str, Any]:
    return {
        "task_id": info.task_id,
        "domain": info.domain,
        "split": info.split,
        "seed": int(info.seed),
        "feedback": {"valid": bool(o.feedback.valid), "message": o.feedback.message},
        "revealed_findings": list(o.revealed_findings),
        "denied_findings": list(o.denied_findings),
    }


def reset_info(r: pb.ResetResponse) -> dict[str, Any]:
    """Info of a reset: task_id, domain, split, seed, feedback, revealed/denied findings.

    The episode id is not in info (it differs on every reset, and gymnasium expects the same
    seed to give the same info); environments expose it as ``episode_id``.
    """
    return _observation_info(r.observation, r.info)


def step_info(r: pb.StepResponse) -> dict[str, Any]:
    """Info of a step: as :func:`reset_info`, plus ``reward_components`` (term → value, summing to
    the reward); once the episode has ended ``truth`` {name, code, disease_id, correct} and
    ``totals`` {turns, cost_usd, discomfort, total_reward}; ``truncation_reason`` when truncated;
    ``autoreset`` on the first answer of an episode started by a vector autoreset."""
    info = _observation_info(r.observation, r.info)
    info["reward_components"] = {k: float(r.reward_components[k]) for k in sorted(r.reward_components)}
    if r.info.HasField("truth"):
        t = r.info.truth
        info["truth"] = {"name": t.name, "code": t.code, "disease_id": t.disease_id, "correct": bool(t.correct)}
    if r.info.HasField("totals"):
        t = r.info.totals
        info["totals"] = {
            "turns": int(t.turns),
            "cost_usd": float(t.cost_usd),
            "discomfort": int(t.discomfort),
            "total_reward": float(t.total_reward),
        }
    if r.info.truncation_reason:
        info["truncation_reason"] = r.info.truncation_reason
    if r.info.autoreset:
        info["autoreset"] = True
    return info


def step_result(r: pb.StepResponse) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
    """The gymnasium 5-tuple ``(obs, reward, terminated, truncated, info)`` of a step."""
    return observation(r.observation), float(r.reward), bool(r.terminated), bool(r.truncated), step_info(r)
