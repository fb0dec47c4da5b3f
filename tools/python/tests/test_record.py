"""Records from GetTrajectory are the server's own JSONL lines, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

import medgym
from medgym.client import episode_options
from medgym.record import episode_record, record_line

DDX = {
    "primary": "influenza",
    "differential": [
        {"name": "influenza", "probability": 0.7},
        {"name": "Pneumonia", "code": "J18.9", "probability": 0.29999},
        {"name": "asthma", "probability": 1e-05},
    ],
}

# Structured actions with every optional field, raw tool-call text, tags, invalid text, a
# truncation, episode options over the server's defaults: every branch of the record.
SCRIPTS = [
    (
        {},
        [
            {"ask": {"question": "Do you have a fever?", "finding_id": "fever"}},
            {"exam": {"exam_id": "cbc", "site": "chest"}},
            {"search": {"query": "chest pain", "top_k": 3}},
            {"diagnose": DDX},
        ],
    ),
    (
        {"noise": "mild", "persona": "anxious", "reward_weights": {"turn": 0.02}},
        [
            '{"name": "ask_patient", "arguments": "{\\"question\\": \\"Any cough?\\"}"}',
            "<exam>cbc</exam>",
            (
                "Let me think.\n<diagnose>"
                '{"primary": " asthma ", "differential": [{"name": "asthma", "probability": 0.6},'
                ' {"name": "copd", "code": "J44.9", "probability": 0.4}]}</diagnose>'
            ),
        ],
    ),
    ({"max_turns": 2}, ["hmm", {"ask": "Any rash?"}]),
    ({"budget_usd": 123.5}, ["<diagnose>migraine</diagnose>"]),
]


@pytest.fixture(scope="module")
def recording(server_factory, tmp_path_factory):
    directory = tmp_path_factory.mktemp("trajectories")
    return server_factory("--trajectory-dir", str(directory)), directory


def written(directory: Path) -> dict[str, str]:
    lines = [line for f in sorted(directory.rglob("*.jsonl")) for line in f.read_text().splitlines() if line]
    return {json.loads(line)["episode_id"]: line for line in lines}


def play(client: medgym.Client, seed: int, episode: dict, actions: list, task_id: str = "") -> tuple[str, str]:
    """Plays ``actions`` to the end; returns the episode id and the record line GetTrajectory gave."""
    r = client.reset(task_id=task_id, seed=seed, options=episode_options(**episode))
    for a in actions:
        step = client.step(r.session_id, a)
        if step.terminated or step.truncated:
            break
    assert step.terminated or step.truncated
    line = record_line(client.trajectory(r.session_id, include_record=True))
    client.close_session(r.session_id)
    return r.info.episode_id, line


def test_records_are_the_servers_lines(recording):
    server, directory = recording
    mine = {}
    with medgym.Client(server.address) as client:
        for seed, (episode, actions) in enumerate(SCRIPTS):
            episode_id, line = play(client, 100 + seed, episode, actions)
            mine[episode_id] = line
    theirs = written(directory)
    assert set(mine) <= set(theirs)
    for episode_id, line in mine.items():
        assert line == theirs[episode_id]


def synonym_case() -> tuple[str, str]:
    """A task whose disease has a synonym that is neither its name, code nor id, and the synonym."""
    diseases = {d["id"]: d for d in json.loads((REPO / "knowledge" / "diseases.json").read_text())}
    for case in json.loads((REPO / "knowledge" / "cases.json").read_text()):
        d = diseases[case["disease"]]
        own = {n.lower() for n in (d["name"], d["id"], d.get("icd10") or "")}
        synonym = next((s for s in d.get("synonyms", []) if s.lower() not in own), None)
        if synonym is not None and d["id"] != "influenza":
            return case["id"], synonym
    raise AssertionError("no disease with a synonym in knowledge/")


def test_rank_of_a_truth_named_by_a_synonym(recording):
    # The gap of the former client-side rebuild: only the server's knowledge base knows the synonym.
    server, directory = recording
    task_id, synonym = synonym_case()
    ddx = {
        "primary": "influenza",
        "differential": [{"name": "influenza", "probability": 0.4}, {"name": synonym, "probability": 0.6}],
    }
    with medgym.Client(server.address) as client:
        episode_id, line = play(client, 7, {}, [{"diagnose": ddx}], task_id=task_id)
    record = json.loads(line)
    assert record["task_id"] == task_id
    assert record["outcome"]["correct"] is False
    assert record["outcome"]["rank"] == 2
    assert written(directory)[episode_id] == line


def test_a_running_episode_has_no_record(client):
    r = client.reset(seed=1)
    client.step(r.session_id, {"ask": "Any fever?"})
    t = client.trajectory(r.session_id, include_record=True)
    assert t.record_json == ""
    assert episode_record(t) is None
    client.close_session(r.session_id)


def test_an_ended_episode_asked_without_its_record_says_so(client):
    r = client.reset(seed=2)
    client.step(r.session_id, {"diagnose": "influenza"})
    t = client.trajectory(r.session_id)
    assert t.record_json == ""
    with pytest.raises(ValueError, match="include_record=True"):
        episode_record(t)
    record = episode_record(client.trajectory(r.session_id, include_record=True))
    assert record["episode_id"] == r.info.episode_id
    assert record["format"] == "medgym.trajectory.v1"
    client.close_session(r.session_id)
