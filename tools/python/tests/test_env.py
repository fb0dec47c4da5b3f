"""medgym/Diagnosis-v0 through gymnasium, against the real server."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import medgym
from medgym.env import MedgymEnv

# A short scripted work-up, in every action form the env accepts.
SCRIPT = [
    {"ask": "Do you have a fever?"},
    "<ask>Where exactly is the pain?</ask>",
    {"name": "order_exam", "arguments": {"exam_id": "cbc"}},
    {"type": "function", "function": {"name": "ask_patient", "arguments": '{"question": "Any cough?"}'}},
    {"exam": {"exam_id": "ecg"}},
    {
        "diagnose": {
            "primary": "acute myocardial infarction",
            "differential": [{"name": "acute myocardial infarction", "probability": 0.6}, "pneumonia"],
        }
    },
]


@pytest.fixture
def env(address):
    e = gym.make(medgym.ENV_ID, address=address)
    yield e
    e.close()


def play(env, seed, script=SCRIPT):
    obs, info = env.reset(seed=seed)
    steps = [(obs, info)]
    for action in script:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


def test_registered_and_made(env):
    assert medgym.ENV_ID in gym.registry
    assert isinstance(env.unwrapped, MedgymEnv)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert isinstance(env.observation_space["text"], gym.spaces.Text)
    assert isinstance(env.action_space, gym.spaces.Text)
    names = [t["function"]["name"] for t in env.unwrapped.tools]
    assert names == ["ask_patient", "order_exam", "search_knowledge", "diagnose"]


def test_check_env(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a gymnasium warning is a failure here
        check_env(env.unwrapped)


def test_episode_through_env(env):
    steps = play(env, seed=3)
    obs, info = steps[0]
    assert obs in env.observation_space
    assert obs["turn"] == 0 and obs["text"]
    assert {"task_id", "domain", "split", "seed", "feedback", "revealed_findings"} <= set(info)
    assert info["seed"] == 3
    for obs, reward, terminated, truncated, info in steps[1:]:
        assert obs in env.observation_space
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
        assert sum(info["reward_components"].values()) == pytest.approx(reward)
        assert info["feedback"]["valid"], info["feedback"]
    *_, (obs, reward, terminated, truncated, info) = steps
    assert terminated and not truncated
    assert obs["turn"] == len(SCRIPT)
    assert set(info["truth"]) == {"name", "code", "disease_id", "correct"}
    assert info["totals"]["turns"] == len(SCRIPT)
    total = sum(s[1] for s in steps[1:])
    assert info["totals"]["total_reward"] == pytest.approx(total)
    assert "truth" not in steps[1][4]  # hidden until the end


def test_same_seed_same_episode(address):
    a = gym.make(medgym.ENV_ID, address=address)
    b = gym.make(medgym.ENV_ID, address=address)
    try:
        first, second = play(a, seed=11), play(b, seed=11)
        assert a.unwrapped.episode_id != b.unwrapped.episode_id
        assert len(first) == len(second)
        for x, y in zip(first, second):
            assert data_equivalence(x, y, exact=True)
        # Seeding once replays the unseeded resets that follow.
        a.reset(seed=5)
        obs_a = [a.reset()[0] for _ in range(3)]
        b.reset(seed=5)
        obs_b = [b.reset()[0] for _ in range(3)]
        assert data_equivalence(obs_a, obs_b, exact=True)
    finally:
        a.close()
        b.close()


def test_invalid_text_is_feedback_not_an_error(env):
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step("I am not sure what to do next.")
    assert info["feedback"]["valid"] is False
    assert info["feedback"]["message"]
    assert info["reward_components"]["invalid"] < 0
    assert not terminated and not truncated
    obs, reward, terminated, truncated, info = env.step({"exam": "no_such_exam"})
    assert info["feedback"]["valid"] is False
    obs, reward, terminated, truncated, info = env.step({"name": "no_such_tool", "arguments": {}})
    assert info["feedback"]["valid"] is False


def test_reset_closes_the_previous_session(env, client):
    env.reset(seed=2)
    previous = env.unwrapped.session_id
    env.reset(seed=2)
    assert env.unwrapped.session_id != previous
    with pytest.raises(medgym.SessionNotFound):
        client.step(previous, {"ask": "hello?"})


def test_close_ends_the_session(address, client):
    env = gym.make(medgym.ENV_ID, address=address)
    env.reset(seed=4)
    session = env.unwrapped.session_id
    env.close()
    env.close()  # idempotent
    with pytest.raises(medgym.SessionNotFound):
        client.step(session, {"ask": "still there?"})


def test_step_after_the_end(env):
    env.reset(seed=6)
    env.step({"diagnose": "influenza"})
    with pytest.raises(medgym.EpisodeOver):
        env.step({"ask": "one more question"})


def test_step_before_reset(address):
    env = MedgymEnv(address)
    try:
        with pytest.raises(gym.error.ResetNeeded):
            env.step({"ask": "hello?"})
    finally:
        env.close()


def test_options_task_and_truncation(address, client):
    task = client.list_tasks(split="train")[0]
    env = gym.make(medgym.ENV_ID, address=address, task_id=task.task_id, max_turns=2)
    try:
        obs, info = env.reset(seed=8)
        assert info["task_id"] == task.task_id and info["domain"] == task.domain
        env.step({"ask": "Any fever?"})
        obs, reward, terminated, truncated, info = env.step({"ask": "Any cough?"})
        assert truncated and not terminated
        assert info["truncation_reason"] == "max_turns"
        assert "truth" in info and info["truth"]["correct"] is False
        # Per-episode override of the constructor's options.
        obs, info = env.reset(seed=8, options={"max_turns": 5, "domain": "", "task_id": ""})
        for _ in range(3):
            *_, truncated, info = env.step({"ask": "Any headache?"})
            assert not truncated
        with pytest.raises(ValueError):
            env.reset(options={"no_such_option": 1})
    finally:
        env.close()


def test_unknown_task_is_invalid_request(address):
    env = gym.make(medgym.ENV_ID, address=address, task_id="no-such-task")
    try:
        with pytest.raises(medgym.InvalidRequest):
            env.reset(seed=1)
    finally:
        env.close()


def test_render_ansi(address):
    env = gym.make(medgym.ENV_ID, address=address, render_mode="ansi")
    try:
        obs, _ = env.reset(seed=3)
        env.step({"ask": "Do you have a fever?"})
        text = env.render()
        assert obs["text"] in text and "Do you have a fever?" in text
    finally:
        env.close()


def test_trajectory_keeps_raw_text(env):
    env.reset(seed=9)
    raw = "Let me ask. <ask>Do you have a fever?</ask>"
    env.step(raw)
    env.step({"diagnose": "influenza"})
    t = env.unwrapped.trajectory()
    assert t.steps[0].action.text == raw
    assert t.case.diagnosis_name  # revealed after the end
    assert len(t.steps) == 2


def test_observations_stay_in_the_space(env, client):
    # Every exam's report and a range of questions, over several tasks.
    exams = [e.id for e in client.get_spec().exams]
    space = env.observation_space
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert obs in space
        for exam in exams[:12]:
            obs, *_ = env.step({"exam": exam})
            assert obs in space, repr(obs["text"])
    assert np.all(obs["cost_usd"] >= 0)
