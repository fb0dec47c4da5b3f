"""Records built from GetTrajectory match the server's own JSONL files byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import medgym
from medgym.client import episode_options
from medgym.record import episode_record, rust_float, rust_json

DDX = {
    "primary": "influenza",
    "differential": [
        {"name": "influenza", "probability": 0.7},
        {"name": "Pneumonia", "code": "J18.9", "probability": 0.29999},
        {"name": "asthma", "probability": 1e-05},
    ],
}

# Structured actions with every optional field, raw tool-call text, tags, invalid text, a
# truncation: every branch of the record.
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


def play(client: medgym.Client, seed: int, episode: dict, actions: list) -> tuple[str, dict]:
    options = episode_options(**episode)
    r = client.reset(seed=seed, options=options)
    for a in actions:
        step = client.step(r.session_id, a)
        if step.terminated or step.truncated:
            break
    assert step.terminated or step.truncated
    record = episode_record(client.trajectory(r.session_id), client.get_spec(), options)
    client.close_session(r.session_id)
    return r.info.episode_id, record


def test_records_are_the_servers_lines(recording):
    server, directory = recording
    mine = {}
    with medgym.Client(server.address) as client:
        for seed, (episode, actions) in enumerate(SCRIPTS):
            episode_id, record = play(client, 100 + seed, episode, actions)
            mine[episode_id] = record
    theirs = written(directory)
    assert set(mine) <= set(theirs)
    for episode_id, record in mine.items():
        assert record == json.loads(theirs[episode_id])
        assert rust_json(record) == theirs[episode_id]


def test_rank_of_a_differential_naming_the_truth(recording):
    server, directory = recording
    with medgym.Client(server.address) as client:
        _, first = play(client, 7, {}, [{"diagnose": "influenza"}])
        truth = first["outcome"]["truth_name"]
        ddx = {"primary": "influenza", "differential": [{"name": "influenza", "probability": 0.5}]}
        ddx["differential"].append({"name": truth, "probability": 0.5})
        episode_id, record = play(client, 7, {}, [{"diagnose": ddx}])
    expected = 1 if truth.lower() == "influenza" else 2
    assert record["outcome"]["rank"] == expected
    assert json.loads(written(directory)[episode_id])["outcome"]["rank"] == expected


def test_a_running_episode_has_no_record(client):
    r = client.reset(seed=1)
    client.step(r.session_id, {"ask": "Any fever?"})
    assert episode_record(client.trajectory(r.session_id), client.get_spec()) is None
    client.close_session(r.session_id)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (1.0, "1.0"),
        (0.8, "0.8"),
        (-2.5, "-2.5"),
        (123.45, "123.45"),
        (1e-05, "0.00001"),
        (0.000123, "0.000123"),
        (1e-07, "1e-7"),
        (1.5e-07, "1.5e-7"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e16"),
        (1.25e17, "1.25e17"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_floats_as_serde_json_writes_them(value, text):
    assert rust_float(value) == text


def test_json_as_serde_json_writes_it():
    assert rust_json({"b": [1, 2.0, None, True], "a": 'é"\n\x01'}) == '{"b":[1,2.0,null,true],"a":"é\\"\\n\\u0001"}'
