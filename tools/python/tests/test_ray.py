"""The Ray rollout farm against real servers: every episode back exactly once, identical to a
single-process run, and nothing lost when one of two servers dies mid-run."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import medgym
import medgym.ray
from medgym.record import episode_record

OPTIONS = {"noise": "mild", "max_turns": 6}


def make_policy():
    # Built in a function so Ray ships it by value (the test module is not importable on workers).
    def policy(observation, info):
        turn, seed = int(observation["turn"]), int(info["seed"])
        if turn == 0:
            return {"ask": "Do you have a fever?"}
        if turn == 1:
            return "<ask>Any cough?</ask>"
        if turn == 2 and seed % 3 == 0:
            return {"name": "order_exam", "arguments": {"exam_id": "cbc"}}
        if turn >= 2 and seed % 3 == 1:
            return {"search": "fever and cough"}  # runs into max_turns: a truncated episode
        first = info["revealed_findings"][0] if info["revealed_findings"] else "none"
        return {
            "diagnose": {
                "primary": "influenza" if seed % 2 else "pneumonia",
                "differential": [
                    {"name": "influenza", "probability": 0.6},
                    {"name": f"not {first}", "probability": 0.4},
                ],
            }
        }

    return policy


def single_process(address, policy, episodes, seed, **options):
    """The reference: one MedgymEnv, episodes one after another, records built the same way."""
    env = medgym.MedgymEnv(address, **options)
    records = []
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            while True:
                obs, _, terminated, truncated, info = env.step(policy(obs, info))
                if terminated or truncated:
                    break
            records.append(episode_record(env.trajectory(include_record=True)))
    finally:
        env.close()
    return records


def without_ids(records):
    return [{k: v for k, v in r.items() if k != "episode_id"} for r in records]


def server_lines(directory: Path) -> dict[str, str]:
    lines = [line for f in directory.rglob("*.jsonl") for line in f.read_text().splitlines() if line]
    return {json.loads(line)["episode_id"]: line for line in lines}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def two_servers(server_factory, tmp_path):
    out = []
    for name in ("farm-a", "farm-b"):
        d = tmp_path / name
        d.mkdir()
        out.append((server_factory("--replica-id", name, "--trajectory-dir", str(d)), d))
    return out


def test_farm_returns_every_episode_once_as_a_single_process_would(local_ray, two_servers, tmp_path):
    policy = make_policy()
    addresses = [s.address for s, _ in two_servers]
    shards = tmp_path / "shards"
    records = medgym.ray.rollout(
        addresses, policy, episodes=24, seed=1000, num_actors=2, envs_per_actor=3, output_dir=shards, **OPTIONS
    )
    assert [r["seed"] for r in records] == list(range(1000, 1024))
    assert len({r["episode_id"] for r in records}) == 24
    assert {r["outcome"]["truncated"] for r in records} == {True, False}

    # Both servers played, and each record is the line its server wrote.
    written = [server_lines(d) for _, d in two_servers]
    assert all(written) and sum(map(len, written)) == 24
    for r in records:
        assert r == json.loads(next(w[r["episode_id"]] for w in written if r["episode_id"] in w))

    reference = single_process(addresses[0], policy, 24, 1000, **OPTIONS)
    assert without_ids(records) == without_ids(reference)
    # The shards hold the servers' lines byte for byte, each once.
    shard_lines = [line for f in sorted(shards.glob("episodes-*.jsonl")) for line in f.read_text().splitlines()]
    assert sorted(shard_lines) == sorted(line for w in written for line in w.values())


def test_results_do_not_depend_on_actors_or_servers(local_ray, two_servers):
    policy = make_policy()
    one = medgym.ray.rollout(two_servers[0][0].address, policy, episodes=6, seed=7, num_actors=1, envs_per_actor=2)
    three = medgym.ray.rollout(
        [s.address for s, _ in two_servers], policy, episodes=6, seed=7, num_actors=3, envs_per_actor=1
    )
    assert without_ids(one) == without_ids(three)


def test_killing_one_server_mid_run_loses_nothing(local_ray, two_servers, tmp_path):
    policy = make_policy()
    (a, dir_a), (b, dir_b) = two_servers
    shards = tmp_path / "shards"
    episodes = 60
    killed_at: list[int] = []

    def kill_b_when_the_farm_is_under_way():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(len(f.read_text().splitlines()) for f in shards.glob("*.jsonl")) if shards.exists() else 0
            if done >= 8:
                b.kill()
                killed_at.append(done)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_b_when_the_farm_is_under_way)
    killer.start()
    try:
        records = medgym.ray.rollout(
            [a.address, b.address],
            policy,
            episodes,
            seed=500,
            num_actors=2,
            envs_per_actor=4,
            output_dir=shards,
            **OPTIONS,
        )
    finally:
        killer.join()
    assert killed_at and killed_at[0] < episodes, "server B was killed before the farm finished"
    assert [r["seed"] for r in records] == list(range(500, 500 + episodes))

    # Every returned episode finished on a server that wrote it: B's before it died, A's after.
    on_a, on_b = server_lines(dir_a), server_lines(dir_b)
    ids = [r["episode_id"] for r in records]
    assert all((i in on_a) != (i in on_b) for i in ids)
    assert 0 < sum(i in on_b for i in ids) < episodes
    assert without_ids(records) == without_ids(single_process(a.address, policy, episodes, 500, **OPTIONS))


def test_bad_arguments_fail_before_any_actor_starts():
    policy = make_policy()
    with pytest.raises(ValueError, match="unknown option"):
        medgym.ray.rollout("127.0.0.1:1", policy, 2, colour="blue")
    with pytest.raises(ValueError, match="uint64"):
        medgym.ray.rollout("127.0.0.1:1", policy, 2, seed=2**64 - 1)
    assert medgym.ray.rollout("127.0.0.1:1", policy, 0) == []
