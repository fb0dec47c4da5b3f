"""Trajectory records: an ended episode as the dict the server's JSONL writer produces.

``medgym serve --trajectory-dir`` writes one JSON object per finished episode
(``docs/trajectory.schema.json``, format ``medgym.trajectory.v1``). A client that collects
episodes itself (:mod:`medgym.ray`) builds the same object from what it has: the ``Trajectory``
of GetTrajectory, the options it reset with and the server's ``EnvSpec``. :func:`episode_record`
mirrors the server's ``EpisodeRecord::from_trajectory`` field by field; the mapping is:

============================  ===================================================================
record field                  from
============================  ===================================================================
format                        the constant ``medgym.trajectory.v1``
episode_id, task_id, domain,  ``Trajectory.info``
split, seed
options                       the reset's ``EpisodeOptions`` over ``EnvSpec.default_options``, as
                              the server fills them (a zero field takes the default; reward weights
                              too unless ``explicit``; noise probabilities are merged)
tools                         ``EnvSpec.tools`` in OpenAI form
messages                      system prompt, the first observation, then per step either the raw
                              text and the answer as a user message, or a tool call
                              (``call_{n}``, arguments as compact JSON with sorted keys and the
                              number format of the server's serde_json) and its tool message
steps                         per ``TrajectoryStep``: the action in its serde form
                              (``{"ask": {...}}``, ``{"text": "..."}``, empty optional fields
                              left out, keys sorted), the observation, reward, terms,
                              terminated, truncated
outcome                       the last step's ``info.truth`` and ``info.totals``; the diagnosis and
                              differential as the server read them (raw text parsed by a port of
                              the server's parser)
outcome.rank                  the only field the wire does not carry: the server resolves every
                              differential entry through its knowledge base. Here an entry
                              matches the truth when it is the truth's name, code or id
                              (case-insensitively), or the primary of a correct diagnosis; an
                              entry naming the truth by a synonym gives ``None`` where the
                              server's file has its rank. With no differential the rank is exact
                              (1 when correct, else None).
case                          ``Trajectory.case`` (None while the episode runs)
noise_events                  ``Trajectory.noise_events`` (``finding_id`` "" → ``finding`` None)
============================  ===================================================================

``SYSTEM_PROMPT`` and the tool-call shapes are copies of ``crates/env/src/record.rs``;
``tests/test_record.py`` checks records built here against the server's own JSONL files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from medgym._proto import pb

__all__ = ["FORMAT", "SYSTEM_PROMPT", "episode_record", "resolved_options", "tools_of"]

#: Format version of the record (``record::FORMAT``).
FORMAT = "medgym.trajectory.v1"

#: The system prompt of recorded conversations (``record::SYSTEM_PROMPT``).
SYSTEM_PROMPT = (
    "You are a physician. Take a history from the patient, order examinations where they help, and "
    "finish with a diagnosis and a ranked differential with probabilities. Every exam costs money and may cause "
    "the patient discomfort; every turn counts. Use exactly one tool per turn."
)

_TOOL_NAMES = {"ask": "ask_patient", "exam": "order_exam", "search": "search_knowledge", "diagnose": "diagnose"}
_WEIGHTS = ("diagnosis", "differential", "exam_quality", "cost", "turn", "repeat", "invalid", "information")


def tools_of(spec: pb.EnvSpec) -> list[dict[str, Any]]:
    """The record's ``tools``: the server's tools as OpenAI function definitions."""
    return [
        _sorted(
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": json.loads(t.parameters_json)},
            }
        )
        for t in spec.tools
    ]


_TOOLS_CACHE: dict[tuple[str, ...], str] = {}


def _tools_cached(spec: pb.EnvSpec) -> list[dict[str, Any]]:
    # A farm builds thousands of records against one spec: convert its tools once, and hand each
    # record its own copy (json.loads of the cached text is cheaper than a deep copy).
    key = tuple(t.name + "\0" + t.description + "\0" + t.parameters_json for t in spec.tools)
    text = _TOOLS_CACHE.get(key)
    if text is None:
        text = _TOOLS_CACHE[key] = json.dumps(tools_of(spec))
    return json.loads(text)


def _sorted(value: Any) -> Any:
    """``value`` with every object's keys in order: the server builds these fields as
    ``serde_json::Value``, whose maps are BTreeMaps, so they are written sorted."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def resolved_options(given: pb.EpisodeOptions | None, defaults: pb.EpisodeOptions) -> dict[str, Any]:
    """The options an episode ran with, as the server fills a reset's options from its defaults
    (``convert::options``), in the record's form."""
    noise = {"preset": defaults.noise.preset, "probabilities": dict(defaults.noise.probabilities)}
    persona = defaults.persona
    reward = {k: float(getattr(defaults.reward, k)) for k in _WEIGHTS}
    max_turns, budget = int(defaults.max_turns), float(defaults.budget_usd)
    if given is not None:
        if given.HasField("noise"):
            if given.noise.preset:
                noise["preset"] = given.noise.preset
            noise["probabilities"].update(given.noise.probabilities)
        if given.persona:
            persona = given.persona
        if given.HasField("reward"):
            r = given.reward
            reward = {k: float(getattr(r, k)) if r.explicit or getattr(r, k) != 0.0 else reward[k] for k in _WEIGHTS}
        if given.max_turns > 0:
            max_turns = int(given.max_turns)
        if given.budget_usd != 0.0:
            budget = float(given.budget_usd)
    noise["probabilities"] = {k: float(noise["probabilities"][k]) for k in sorted(noise["probabilities"])}
    return {"noise": noise, "persona": persona, "reward": reward, "max_turns": max_turns, "budget_usd": budget}


def action_value(a: pb.Action) -> dict[str, Any]:
    """The action as the server's serde writes it: ``{"kind": {fields}}``, empty optionals left out."""
    kind = a.WhichOneof("kind")
    if kind == "text":
        return {"text": a.text}
    return {kind: _sorted(_arguments(a))}


def _arguments(a: pb.Action) -> dict[str, Any]:
    kind = a.WhichOneof("kind")
    if kind == "ask":
        out: dict[str, Any] = {"question": a.ask.question}
        if a.ask.finding_id:
            out["finding_id"] = a.ask.finding_id
    elif kind == "exam":
        out = {"exam_id": a.exam.exam_id}
        if a.exam.site:
            out["site"] = a.exam.site
    elif kind == "search":
        out = {"query": a.search.query}
        if a.search.top_k:
            out["top_k"] = int(a.search.top_k)
    elif kind == "diagnose":
        out = {"primary": a.diagnose.primary}
        if a.diagnose.differential:
            out["differential"] = [_ranked(r.name, r.code, r.probability) for r in a.diagnose.differential]
    else:
        raise ValueError(f"an action without a kind: {a!r}")
    return out


def _ranked(name: str, code: str, probability: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if code:
        out["code"] = code
    out["probability"] = float(probability)
    return out


def _observation(o: pb.Observation) -> dict[str, Any]:
    return {
        "text": o.text,
        "turn": int(o.turn),
        "cost_usd": float(o.cost_usd),
        "discomfort": int(o.discomfort),
        "revealed_findings": list(o.revealed_findings),
        "denied_findings": list(o.denied_findings),
        "valid": bool(o.feedback.valid),
        "message": o.feedback.message,
    }


def episode_record(
    trajectory: pb.Trajectory,
    spec: pb.EnvSpec,
    options: pb.EpisodeOptions | None = None,
) -> dict[str, Any] | None:
    """The JSONL record of an ended episode (None while it runs), from its GetTrajectory answer,
    the server's spec and the options its reset sent."""
    if not trajectory.steps:
        return None
    last = trajectory.steps[-1]
    end = last.response
    if not (end.terminated or end.truncated) or not end.info.HasField("truth") or not end.info.HasField("totals"):
        return None
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": trajectory.initial_observation.text},
    ]
    steps = []
    for i, s in enumerate(trajectory.steps):
        kind = s.action.WhichOneof("kind")
        text = s.response.observation.text
        if kind == "text":
            messages.append({"role": "assistant", "content": s.action.text})
            messages.append({"role": "user", "content": text})
        else:
            call = f"call_{i + 1}"
            arguments = rust_json(_sorted(_arguments(s.action)))
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call,
                            "type": "function",
                            "function": {"name": _TOOL_NAMES[kind], "arguments": arguments},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "content": text, "tool_call_id": call})
        r = s.response
        steps.append(
            {
                "action": action_value(s.action),
                "observation": _observation(r.observation),
                "reward": float(r.reward),
                "reward_components": {k: float(r.reward_components[k]) for k in sorted(r.reward_components)},
                "terminated": bool(r.terminated),
                "truncated": bool(r.truncated),
            }
        )

    truth, totals = end.info.truth, end.info.totals
    primary: str | None = None
    differential: list[list[Any]] = []
    if end.terminated:
        dx = _diagnosis_of(last.action)
        if dx is not None:
            primary = dx["primary"]
            differential = [[d.get("code") or d["name"], float(d["probability"])] for d in dx.get("differential", [])]
    info = trajectory.info
    record: dict[str, Any] = {
        "format": FORMAT,
        "episode_id": trajectory.episode_id,
        "task_id": info.task_id,
        "domain": info.domain,
        "split": info.split,
        "seed": int(info.seed),
        "options": resolved_options(options, spec.default_options),
        "tools": _tools_cached(spec),
        "messages": messages,
        "steps": steps,
        "outcome": {
            "diagnosis": primary,
            "differential": differential,
            "truth_name": truth.name,
            "truth_code": truth.code,
            "truth_id": truth.disease_id,
            "correct": bool(truth.correct),
            "rank": _rank(primary, differential, truth) if end.terminated else None,
            "cost_usd": float(totals.cost_usd),
            "discomfort": int(totals.discomfort),
            "turns": int(totals.turns),
            "total_reward": float(totals.total_reward),
            "truncated": bool(end.truncated),
        },
        "case": None,
    }
    if trajectory.HasField("case"):
        c = trajectory.case
        record["case"] = {
            "age": int(c.age),
            "sex": c.sex,
            "findings": [{"id": f.id, "name": f.name, "kind": f.kind} for f in c.findings],
        }
    record["noise_events"] = [
        {"kind": e.kind, "turn": int(e.turn), "finding": e.finding_id or None, "detail": e.detail}
        for e in trajectory.noise_events
    ]
    return record


def _rank(primary: str | None, differential: list[list[Any]], truth: pb.Truth) -> int | None:
    # See the module docstring: the server resolves names through its knowledge base; the client
    # recognises the truth only by its exact name, code or id, or as the primary it marked correct.
    if primary is None:
        return None
    if not differential:
        return 1 if truth.correct else None
    names = {n.strip().lower() for n in (truth.name, truth.code, truth.disease_id) if n}
    if truth.correct and primary.strip():
        names.add(primary.strip().lower())
    for i, (name, _) in enumerate(differential):
        if str(name).strip().lower() in names:
            return i + 1
    return None


# -- the server's reading of a diagnosis ---------------------------------------------------------
# A port of crates/env/src/action.rs `parse_text`, for the one thing a record needs from raw text:
# the primary and differential of the diagnosis that ended the episode.

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_DECODER = json.JSONDecoder()


def _diagnosis_of(a: pb.Action) -> dict[str, Any] | None:
    kind = a.WhichOneof("kind")
    if kind == "diagnose":
        return _arguments(a)
    if kind != "text":
        return None
    found = _parse_text(a.text)
    return found[1] if found is not None and found[0] == "diagnose" else None


def _parse_text(text: str) -> tuple[str, Any] | None:
    call, tag = _first_tool_call(text), _first_tag(text)
    if call is not None and (tag is None or call[0] <= tag[0]):
        return call[1]
    return tag[1] if tag is not None else None


def _first_tool_call(text: str) -> tuple[int, tuple[str, Any] | None] | None:
    pos = text.find("{")
    while pos >= 0:
        try:
            value, _ = _DECODER.raw_decode(text, pos)
        except ValueError:
            value = None
        found = _tool_call(value)
        if found is not False:
            return pos, found
        pos = text.find("{", pos + 1)
    return None


def _tool_call(value: Any) -> Any:
    """``False`` when ``value`` is no tool call; else ``(tool, arguments)`` or None (a bad one)."""
    if not isinstance(value, dict):
        return False
    calls = value.get("tool_calls")
    if isinstance(calls, list):
        return _tool_call(calls[0]) if calls else False
    function = value.get("function")
    if isinstance(function, dict):
        return _tool_call(function)
    name = value.get("name")
    if not isinstance(name, str):
        return False
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return _action_from(name, args)


def _action_from(name: str, args: Any) -> tuple[str, Any] | None:
    tool = {"ask_patient": "ask", "ask": "ask", "order_exam": "exam", "exam": "exam"}.get(name)
    tool = tool or {"search_knowledge": "search", "search": "search", "diagnose": "diagnose"}.get(name)
    if tool is None:
        return None
    if tool != "diagnose":
        return (tool, args)
    if not isinstance(args, dict) or not isinstance(args.get("primary"), str):
        return None
    return ("diagnose", _diagnose_args(args))


def _diagnose_args(args: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"primary": args["primary"]}
    ddx = args.get("differential") or []
    if ddx:
        out["differential"] = [
            _ranked(d.get("name", "") or "", d.get("code", "") or "", float(d.get("probability", 0.0) or 0.0))
            for d in ddx
        ]
    return out


def _first_tag(text: str) -> tuple[int, tuple[str, Any] | None] | None:
    lower = text.translate(_ASCII_LOWER)
    best: tuple[int, tuple[str, Any] | None] | None = None
    for tag in ("ask", "exam", "search", "diagnose"):
        start = lower.find(f"<{tag}>")
        if start < 0 or (best is not None and best[0] < start):
            continue
        body_start = start + len(tag) + 2
        end = lower.find(f"</{tag}>", body_start)
        body = text[body_start : len(text) if end < 0 else end].strip()
        best = (start, _tag_action(tag, body))
    return best


def _tag_action(tag: str, body: str) -> tuple[str, Any] | None:
    if not body:
        return None
    if body.startswith("{"):
        try:
            args = json.loads(body)
        except ValueError:
            return None
        return _action_from(_TOOL_NAMES[tag], args)
    return ("diagnose", {"primary": body}) if tag == "diagnose" else (tag, body)


# -- serde_json's text -------------------------------------------------------------------------


def rust_json(value: Any) -> str:
    """Compact JSON as serde_json's ``to_string`` writes it: no spaces, non-ASCII kept, and
    numbers in Rust's shortest form (``1.0``, ``1e-7``, ``0.00001``)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{rust_json(str(k))}:{rust_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(rust_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return rust_float(value)
    return json.dumps(value, ensure_ascii=False)


def rust_float(x: float) -> str:
    """An f64 as serde_json writes it (the ``ryu`` crate's format)."""
    if not math.isfinite(x):
        return "null"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest round-trip digits, as ryu does; only the layout differs.
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp) if exp else 0)  # decimal point position relative to `whole + frac`
    if whole == "0":  # 0.000123: the leading zeros of frac move the point left
        point = -(len(frac) - len(frac.lstrip("0"))) + (int(exp) if exp else 0)
    digits = digits.rstrip("0") or "0"
    length = len(digits)
    k = point - length  # value = digits * 10**k
    kk = point
    if 0 <= k and kk <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    e = kk - 1
    if length == 1:
        return f"{sign}{digits}e{e}"
    return f"{sign}{digits[0]}.{digits[1:]}e{e}"
