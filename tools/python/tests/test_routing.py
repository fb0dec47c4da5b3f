"""Routing over two real replicas: resets spread, steps reach their owner, a dead replica's
sessions are NOT_FOUND while the rest go on."""

from __future__ import annotations

import asyncio
import socket
import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import data_equivalence

import medgym
from medgym.aio import AsyncClient
from medgym.routing import parse_address, replica_of, resolve


@pytest.fixture(scope="module")
def pair(server_factory):
    return server_factory("--replica-id", "rep-a"), server_factory("--replica-id", "rep-b")


@pytest.fixture
def routed(pair):
    with medgym.Client([s.address for s in pair], timeout=10.0) as c:
        yield c


def test_address_forms():
    assert parse_address("127.0.0.1:1") == (["127.0.0.1:1"], None)
    assert parse_address(" a:1, b:2 ,a:1") == (["a:1", "b:2"], None)
    assert parse_address(["a:1", "b:2"]) == (["a:1", "b:2"], None)
    assert parse_address("dns:///medgym.default.svc:50051") == ([], "medgym.default.svc:50051")
    for bad in ("", " , ", "dns:///noport", ["a:1", "dns:///b:2"]):
        with pytest.raises(ValueError):
            parse_address(bad)
    assert "127.0.0.1:7" in resolve("localhost:7")
    assert replica_of("rep-a.0123456789abcdef0123456789abcdef") == "rep-a"
    assert replica_of("0123456789abcdef") is None


def test_spec_names_the_replica(pair):
    with medgym.Client(pair[0].address) as c:
        assert c.get_spec().replica_id == "rep-a"
        assert c.replicas() == {"rep-a": pair[0].address}


def test_resets_spread_and_steps_reach_their_owner(routed, pair):
    assert routed.replicas() == {"rep-a": pair[0].address, "rep-b": pair[1].address}
    sessions = [routed.reset(seed=s).session_id for s in range(10)]
    owners = [replica_of(s) for s in sessions]
    assert owners.count("rep-a") == 5 and owners.count("rep-b") == 5  # round robin
    for s in sessions:
        assert routed.step(s, {"ask": "Any fever?"}).observation.turn == 1
        assert routed.trajectory(s).steps[0].action.ask.question == "Any fever?"
    # Each replica holds only its own sessions: the routing is what makes the steps above work.
    with medgym.Client(pair[0].address) as a:
        foreign = next(s for s in sessions if replica_of(s) == "rep-b")
        with pytest.raises(medgym.SessionNotFound, match="rep-b"):
            a.step(foreign, {"ask": "Any fever?"})
    assert routed.close_many(sessions) == [None] * 10


def test_batch_step_across_replicas_keeps_order(routed):
    resets = routed.reset_many([medgym.client.reset_request(seed=100 + i) for i in range(6)])
    assert {replica_of(r.session_id) for r in resets} == {"rep-a", "rep-b"}
    ids = [r.session_id for r in resets]
    bogus = "rep-zz.0123456789abcdef0123456789abcdef"
    steps = [(s, {"ask": f"question {i}?"}) for i, s in enumerate(ids)]
    steps.insert(3, (bogus, {"ask": "x"}))
    results = routed.batch_step(steps)
    assert isinstance(results[3], medgym.SessionNotFound) and "rep-zz" in str(results[3])
    answers = results[:3] + results[4:]
    assert [a.info.seed for a in answers] == [100 + i for i in range(6)]
    for i, s in enumerate(ids):
        assert routed.trajectory(s).steps[0].action.ask.question == f"question {i}?"
    routed.close_many(ids)


def test_vector_env_over_two_replicas_is_the_same_env(pair):
    def run(address):
        envs = gym.make_vec(medgym.ENV_ID, num_envs=4, address=address)
        try:
            out = [envs.reset(seed=9)[0]]
            for t in range(3):
                out.append(envs.step([{"diagnose": "influenza"} if t == 1 else {"ask": "Any cough?"}] * 4)[:4])
            return out, [replica_of(s) for s in envs.session_ids]
        finally:
            envs.close()

    one, _ = run(pair[0].address)
    two, owners = run(",".join(s.address for s in pair))
    assert set(owners) == {"rep-a", "rep-b"}
    assert data_equivalence(one, two, exact=True)


def test_env_over_two_replicas(pair):
    env = gym.make(medgym.ENV_ID, address=[s.address for s in pair])
    try:
        seen = set()
        for seed in range(2):
            env.reset(seed=seed)
            seen.add(replica_of(env.unwrapped.session_id))
            env.step({"ask": "Any fever?"})
        assert seen == {"rep-a", "rep-b"}
    finally:
        env.close()


def test_asyncio_client_routes(pair):
    async def main():
        async with AsyncClient([s.address for s in pair]) as client:
            sessions = [await client.new_session(seed=s) for s in range(4)]
            assert {replica_of(s.session_id) for s in sessions} == {"rep-a", "rep-b"}
            results = await asyncio.gather(*(s.step({"ask": "Any fever?"}) for s in sessions))
            assert [r[0]["turn"] for r in results] == [1] * 4
            batch = await client.batch_step([(s.session_id, {"ask": "Any rash?"}) for s in sessions])
            assert [b.observation.turn for b in batch] == [2] * 4
            assert len((await sessions[1].trajectory()).steps) == 2
            for s in sessions:
                await s.close()
            assert set(await client.replicas()) == {"rep-a", "rep-b"}

    asyncio.run(main())


def test_dns_name_resolving_to_the_replicas(pair):
    # localhost resolves to 127.0.0.1 (and maybe ::1, where nothing listens): one live replica.
    port = pair[0].address.rpartition(":")[2]
    with medgym.Client(f"dns:///localhost:{port}", timeout=5.0) as c:
        assert c.replicas() == {"rep-a": f"127.0.0.1:{port}"}
        r = c.reset(seed=1)
        assert replica_of(r.session_id) == "rep-a"
        c.close_session(r.session_id)


def test_a_dead_replica_loses_only_its_sessions(server_factory):
    a = server_factory("--replica-id", "live-a")
    b = server_factory("--replica-id", "dies-b")
    port_b = int(b.address.rpartition(":")[2])
    with medgym.Client([a.address, b.address], timeout=5.0, probe_interval=1.0) as c:
        sessions = [c.reset(seed=s).session_id for s in range(8)]
        on_a = [s for s in sessions if replica_of(s) == "live-a"]
        on_b = [s for s in sessions if replica_of(s) == "dies-b"]
        assert len(on_a) == len(on_b) == 4
        b.kill()

        results = c.batch_step([(s, {"ask": "Any fever?"}) for s in sessions])
        for s, r in zip(sessions, results):
            if s in on_b:
                assert isinstance(r, medgym.SessionNotFound) and "dies-b" in str(r)
            else:
                assert r.observation.turn == 1
        started = time.monotonic()
        with pytest.raises(medgym.SessionNotFound, match="unreachable"):
            c.step(on_b[0], {"ask": "Any cough?"})
        assert time.monotonic() - started < 0.5, "a known-dead replica is not dialled again"
        for s in on_a:
            assert c.step(s, {"ask": "Any cough?"}).observation.turn == 2
        fresh = [c.reset(seed=100 + i).session_id for i in range(4)]
        assert {replica_of(s) for s in fresh} == {"live-a"}
        assert c.replicas() == {"live-a": a.address}

        # A replica back at the address (here with the same name) rejoins after the probe interval.
        back = server_factory("--replica-id", "dies-b", port=port_b)
        assert back.address == b.address
        deadline = time.monotonic() + 15
        while "dies-b" not in c.replicas():
            assert time.monotonic() < deadline, "the restarted replica was not probed again"
            time.sleep(0.2)
        again = [replica_of(c.reset(seed=200 + i).session_id) for i in range(4)]
        assert set(again) == {"live-a", "dies-b"}
        # Its old sessions died with the process: the server itself answers NOT_FOUND.
        with pytest.raises(medgym.SessionNotFound):
            c.step(on_b[1], {"ask": "Any fever?"})


def test_no_live_replica_is_unavailable():
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    c = medgym.Client([f"127.0.0.1:{p}" for p in ports], timeout=1.0, max_retries=0)
    with c, pytest.raises(medgym.MedgymUnavailable, match="no live medgym replica"):
        c.reset(seed=1)
