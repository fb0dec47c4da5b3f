"""Turning what a policy emits into a wire ``Action``.

Accepted forms:

- raw model text (``str``): sent verbatim as ``Action.text``; the server parses tool-call JSON
  or tags (``<ask>...</ask>``, ``<exam>cbc</exam>``, ...) and keeps the text in the trajectory.
  Unparseable text is not an error: the step comes back with ``feedback.valid = False``.
- a structured dict with one key: ``{"ask": "Any fever?"}`` (or ``{"ask": {"question": ...,
  "finding_id": ...}}``), ``{"exam": "cbc"}`` (or ``{"exam": {"exam_id": ..., "site": ...}}``),
  ``{"search": "chest pain"}`` (or ``{"search": {"query": ..., "top_k": ...}}``),
  ``{"diagnose": "pneumonia"}`` or ``{"diagnose": {"primary": ..., "differential": [...]}}`` where
  each differential entry is a name or ``{"name", "code", "probability"}``; ``{"text": "..."}``.
- an OpenAI tool call: ``{"name": "ask_patient", "arguments": {...} or "<json>"}``, or the
  ``{"type": "function", "function": {...}}`` element of ``tool_calls``; it is sent as text (its
  JSON), so the server validates the arguments and answers bad ones with feedback.
- a ``medgym._proto.pb.Action``, passed through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Union

from medgym._proto import pb

__all__ = ["ActionLike", "to_action"]

#: Anything :func:`to_action` accepts.
ActionLike = Union[str, Mapping[str, Any], "pb.Action"]

_KINDS = ("ask", "exam", "search", "diagnose", "text")


def to_action(action: ActionLike) -> pb.Action:
    """The wire ``Action`` for a policy's output. Raises ``TypeError``/``ValueError`` for a value
    of a shape no policy should produce (a programming error, not an agent mistake)."""
    if isinstance(action, pb.Action):
        return action
    if isinstance(action, str):
        return pb.Action(text=action)
    if isinstance(action, bytes):
        return pb.Action(text=action.decode("utf-8"))
    if not isinstance(action, Mapping):
        raise TypeError(f"an action is a str, a dict or a medgym Action, not {type(action).__name__}")
    if "function" in action and isinstance(action["function"], Mapping):
        return _tool_call(action["function"])
    if "name" in action and ("arguments" in action or "parameters" in action):
        return _tool_call(action)
    kinds = [k for k in _KINDS if k in action]
    if len(kinds) != 1 or len(action) != 1:
        raise ValueError(
            f"an action dict has exactly one of the keys {', '.join(_KINDS)}, or is a tool call "
            f"with 'name' and 'arguments'; got keys {sorted(action)}"
        )
    kind = kinds[0]
    value = action[kind]
    if kind == "text":
        return pb.Action(text=_str(value, "text"))
    if kind == "ask":
        if isinstance(value, str):
            return pb.Action(ask=pb.Ask(question=value))
        return pb.Action(ask=pb.Ask(**_fields(value, "ask", ("question", "finding_id"))))
    if kind == "exam":
        if isinstance(value, str):
            return pb.Action(exam=pb.Exam(exam_id=value))
        return pb.Action(exam=pb.Exam(**_fields(value, "exam", ("exam_id", "site"))))
    if kind == "search":
        if isinstance(value, str):
            return pb.Action(search=pb.Search(query=value))
        return pb.Action(search=pb.Search(**_fields(value, "search", ("query", "top_k"))))
    # diagnose
    if isinstance(value, str):
        return pb.Action(diagnose=pb.Diagnose(primary=value))
    fields = _fields(value, "diagnose", ("primary", "differential"))
    differential = [_ranked(d) for d in fields.pop("differential", None) or ()]
    return pb.Action(diagnose=pb.Diagnose(differential=differential, **fields))


def _tool_call(call: Mapping[str, Any]) -> pb.Action:
    name = call.get("name")
    if not isinstance(name, str):
        raise ValueError(f"a tool call needs a string 'name', got {name!r}")
    arguments = call.get("arguments", call.get("parameters", {}))
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
        arguments = json.loads(arguments)  # round-trip: only JSON values go on the wire
    return pb.Action(text=json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False))


def _ranked(entry: Any) -> pb.RankedDiagnosis:
    if isinstance(entry, str):
        return pb.RankedDiagnosis(name=entry)
    return pb.RankedDiagnosis(**_fields(entry, "differential entry", ("name", "code", "probability")))


def _fields(value: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} takes a string or a dict, not {type(value).__name__}")
    unknown = set(value) - set(allowed)
    if unknown:
        raise ValueError(f"{what} has unknown fields {sorted(unknown)}; allowed: {list(allowed)}")
    return {k: v for k, v in value.items() if v is not None}


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    return value
