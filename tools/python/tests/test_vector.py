"""The BatchStep vector env with next-step autoreset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

import medgym
from medgym.vector import SEED_STRIDE, MedgymVectorEnv

N = 4


@pytest.fixture
def envs(address):
    e = gym.make_vec(medgym.ENV_ID, num_envs=N, address=address)
    yield e
    e.close()


def test_make_vec_gives_the_batch_env(envs):
    assert isinstance(envs, MedgymVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.num_envs == N


def test_reset_and_seeds(envs):
    obs, infos = envs.reset(seed=100)
    assert obs in envs.observation_space
    assert list(infos["seed"]) == [100 + i * SEED_STRIDE for i in range(N)]
    assert infos["_seed"].all()
    assert list(obs["turn"]) == [0] * N
    assert len(set(envs.session_ids)) == N


def test_matches_the_single_env(envs, address):
    obs, infos = envs.reset(seed=21)
    single = gym.make(medgym.ENV_ID, address=address)
    try:
        for i in range(N):
            o, info = single.reset(seed=int(infos["seed"][i]))
            assert o["text"] == obs["text"][i]
            assert info["task_id"] == infos["task_id"][i]
        o, *_ = single.step({"ask": "Do you have a fever?"})
        obs, *_ = envs.step([{"ask": "Do you have a fever?"}] * N)
        assert o["text"] == obs["text"][N - 1]
    finally:
        single.close()


def test_autoreset_next_step(envs):
    obs, infos = envs.reset(seed=7)
    first_seeds = infos["seed"].copy()
    first_episodes = list(envs.episode_ids)
    # Slots 0 and 2 diagnose at once; 1 and 3 keep asking.
    actions = [
        {"diagnose": "influenza"},
        {"ask": "Any fever?"},
        '<diagnose>{"primary": "asthma"}</diagnose>',
        "<ask>Any cough?</ask>",
    ]
    obs, rewards, terminated, truncated, infos = envs.step(actions)
    assert obs in envs.observation_space
    assert list(terminated) == [True, False, True, False]
    assert not truncated.any()
    assert list(infos["_truth"]) == [True, False, True, False]
    assert infos["truth"]["name"][0] and infos["totals"]["turns"][0] == 1
    assert "autoreset" not in infos

    # The next step resets slots 0 and 2 (their actions are ignored) and steps 1 and 3.
    obs, rewards, terminated, truncated, infos = envs.step([None, {"ask": "Any rash?"}, 12345, {"ask": "Any rash?"}])
    assert obs in envs.observation_space
    assert list(infos["_autoreset"]) == [True, False, True, False]
    assert rewards[0] == 0.0 and rewards[2] == 0.0
    assert list(obs["turn"]) == [0, 2, 0, 2]
    assert not terminated.any() and not truncated.any()
    # Each autoreset slot moves along its own seed chain: a new seed, and not a neighbour's.
    assert infos["seed"][0] != first_seeds[0] and infos["seed"][2] != first_seeds[2]
    assert not set(int(x) for x in infos["seed"][[0, 2]]) & set(int(x) for x in first_seeds)
    assert infos["seed"][1] == first_seeds[1]
    assert envs.episode_ids[0] != first_episodes[0] and envs.episode_ids[1] == first_episodes[1]
    assert all(v == 0.0 for v in infos["reward_components"]["diagnosis"][[0, 2]])

    # And the new episodes play on.
    obs, rewards, terminated, truncated, infos = envs.step([{"ask": "Any fever?"}] * N)
    assert list(obs["turn"]) == [1, 3, 1, 3]
    assert "autoreset" not in infos


def test_autoreset_episode_is_the_seeded_episode(envs, address):
    obs, infos = envs.reset(seed=40)
    envs.step([{"diagnose": "influenza"}] * N)
    obs, *_, infos = envs.step([{"ask": "x"}] * N)
    single = gym.make(medgym.ENV_ID, address=address)
    try:
        # The slot's next episode is the one its reported seed gives in a fresh session.
        o, info = single.reset(seed=int(infos["seed"][0]))
        assert int(infos["seed"][0]) != 41, "autoreset does not step into the neighbour's seed"
        assert o["text"] == obs["text"][0] and info["task_id"] == infos["task_id"][0]
    finally:
        single.close()


def test_vector_is_deterministic(address):
    def run():
        e = gym.make_vec(medgym.ENV_ID, num_envs=3, address=address)
        try:
            out = [e.reset(seed=5)[0]]
            for t in range(4):
                acts = [{"diagnose": "influenza"} if t == 1 else {"ask": f"question {t}?"} for _ in range(3)]
                out.append(e.step(acts)[:4])
            return out
        finally:
            e.close()

    assert data_equivalence(run(), run(), exact=True)


def test_reset_mask(envs):
    obs, _ = envs.reset(seed=3)
    envs.step([{"ask": "Any fever?"}] * N)
    before = list(envs.session_ids)
    obs, infos = envs.reset(options={"reset_mask": np.array([False, True, False, False])})
    assert list(obs["turn"]) == [1, 0, 1, 1]
    assert list(infos["_task_id"]) == [False, True, False, False]
    assert envs.session_ids[0] == before[0] and envs.session_ids[1] != before[1]


def test_a_failed_slot_raises_with_its_index(envs, client):
    envs.reset(seed=2)
    client.close_session(envs.session_ids[2])
    with pytest.raises(medgym.SessionNotFound) as e:
        envs.step([{"ask": "Any fever?"}] * N)
    assert e.value.slot == 2


def test_close_frees_the_sessions(address, client):
    e = gym.make_vec(medgym.ENV_ID, num_envs=2, address=address)
    e.reset(seed=1)
    sessions = list(e.session_ids)
    e.close()
    for s in sessions:
        with pytest.raises(medgym.SessionNotFound):
            client.step(s, {"ask": "hello?"})
