"""Action conversion (no server)."""

from __future__ import annotations

import json

import pytest

from medgym import pb, to_action


def test_text_and_passthrough():
    assert to_action("<exam>cbc</exam>") == pb.Action(text="<exam>cbc</exam>")
    a = pb.Action(ask=pb.Ask(question="q"))
    assert to_action(a) is a
    assert to_action({"text": "raw"}) == pb.Action(text="raw")


def test_structured():
    assert to_action({"ask": "Any fever?"}) == pb.Action(ask=pb.Ask(question="Any fever?"))
    assert to_action({"ask": {"question": "Fever?", "finding_id": "HP:0001945"}}).ask.finding_id == "HP:0001945"
    assert to_action({"exam": "cbc"}) == pb.Action(exam=pb.Exam(exam_id="cbc"))
    assert to_action({"exam": {"exam_id": "xray", "site": "chest"}}).exam.site == "chest"
    assert to_action({"search": "chest pain"}).search.query == "chest pain"
    assert to_action({"search": {"query": "q", "top_k": 3}}).search.top_k == 3
    assert to_action({"diagnose": "influenza"}) == pb.Action(diagnose=pb.Diagnose(primary="influenza"))
    d = to_action(
        {"diagnose": {"primary": "mi", "differential": ["mi", {"name": "pe", "code": "I26.9", "probability": 0.2}]}}
    ).diagnose
    assert [r.name for r in d.differential] == ["mi", "pe"] and d.differential[1].probability == 0.2


def test_tool_calls_go_as_text():
    a = to_action({"name": "order_exam", "arguments": {"exam_id": "cbc"}})
    assert json.loads(a.text) == {"name": "order_exam", "arguments": {"exam_id": "cbc"}}
    a = to_action(
        {"id": "call_1", "type": "function", "function": {"name": "ask_patient", "arguments": '{"question": "q"}'}}
    )
    assert json.loads(a.text) == {"name": "ask_patient", "arguments": '{"question": "q"}'}


@pytest.mark.parametrize(
    "bad, exc",
    [
        (3, TypeError),
        ({"ask": "a", "exam": "b"}, ValueError),
        ({"walk": "home"}, ValueError),
        ({"exam": {"id": "cbc"}}, ValueError),
        ({"ask": 5}, TypeError),
        ({"name": 5, "arguments": {}}, ValueError),
    ],
)
def test_programming_errors_raise(bad, exc):
    with pytest.raises(exc):
        to_action(bad)
