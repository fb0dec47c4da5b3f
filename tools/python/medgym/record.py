"""Trajectory records: an ended episode as the JSONL record the server writes.

``medgym serve --trajectory-dir`` and ``medgym rollout`` write one JSON object per finished episode
(``docs/trajectory.schema.json``, format ``medgym.trajectory.v1``). A client that collects
episodes itself (:mod:`medgym.ray`) gets the same line from the server: GetTrajectory with
``include_record`` answers ``Trajectory.record_json``, made by the server's own record code once
the episode has ended, so every field is the server's (``outcome.rank`` of a differential that
names the truth by a synonym included)::

    t = client.trajectory(session_id, include_record=True)
    line = record_line(t)       # the exact JSONL line (no newline); None while the episode runs
    record = episode_record(t)  # the same, as a dict
"""

from __future__ import annotations

import json
from typing import Any

from medgym._proto import pb

__all__ = ["FORMAT", "SYSTEM_PROMPT", "episode_record", "record_line", "tools_of"]

#: Format version of the record (``record::FORMAT``).
FORMAT = "medgym.trajectory.v1"

#: The system prompt of recorded conversations (``record::SYSTEM_PROMPT``), for prompting a model
#: the way the records read.
SYSTEM_PROMPT = (
    "You are a physician. Take a history from the patient, order examinations where they help, and "
    "finish with a diagnosis and a ranked differential with probabilities. Every exam costs money and may cause "
    "the patient discomfort; every turn counts. Use exactly one tool per turn."
)


def tools_of(spec: pb.EnvSpec) -> list[dict[str, Any]]:
    """The server's tools as OpenAI function definitions (a record's ``tools``), for prompting a
    model the way the records read."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": json.loads(t.parameters_json)},
        }
        for t in spec.tools
    ]


def record_line(trajectory: pb.Trajectory) -> str | None:
    """The JSONL line (without the newline) of an ended episode, None while it runs.

    ``trajectory`` must come from GetTrajectory asked with ``include_record=True``; an ended
    episode without ``record_json`` raises ValueError (it was not asked for, or the server
    predates the field).
    """
    if trajectory.record_json:
        return trajectory.record_json
    end = trajectory.steps[-1].response if trajectory.steps else None
    if end is not None and (end.terminated or end.truncated):
        raise ValueError(
            f"episode {trajectory.episode_id} has ended but its trajectory has no record_json: "
            "fetch it with trajectory(session_id, include_record=True) from a server that fills it"
        )
    return None


def episode_record(trajectory: pb.Trajectory) -> dict[str, Any] | None:
    """The record of an ended episode as a dict (None while it runs): :func:`record_line` parsed."""
    line = record_line(trajectory)
    return None if line is None else json.loads(line)
