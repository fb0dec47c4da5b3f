"""The asyncio client: many sessions multiplexed on one Interact stream."""

from __future__ import annotations

import asyncio

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import data_equivalence

import medgym
from medgym.aio import AsyncClient

ACTIONS = [{"ask": "Do you have a fever?"}, {"exam": "cbc"}, "<ask>Any cough?</ask>", {"diagnose": "influenza"}]


async def play(client: AsyncClient, seed: int):
    session = await client.new_session(seed=seed)
    steps = [(session.observation, session.info)]
    for action in ACTIONS:
        result = await session.step(action)
        steps.append(result)
        if result[2] or result[3]:
            break
    await session.close()
    return steps


def test_many_sessions_on_one_stream(address):
    async def main():
        async with AsyncClient(address) as client:
            await client.connect()
            results = await asyncio.gather(*(play(client, seed) for seed in range(48)))
            stream = client._stream
            return results, stream

    results, stream = asyncio.run(main())
    assert stream is not None and stream.error is not None  # one stream, closed at the end
    assert len(results) == 48
    for steps in results:
        assert len(steps) == len(ACTIONS) + 1
        *_, (obs, reward, terminated, truncated, info) = steps
        assert terminated and "truth" in info
    # Same seed, same episode, whatever the interleaving.
    assert data_equivalence(results[3], results[3], exact=True)


def test_stream_and_env_agree(address):
    async def main():
        async with AsyncClient(address) as client:
            return await asyncio.gather(play(client, 17), play(client, 17))

    a, b = asyncio.run(main())
    assert data_equivalence(a, b, exact=True)
    env = gym.make(medgym.ENV_ID, address=address)
    try:
        obs, info = env.reset(seed=17)
        assert data_equivalence((obs, info), a[0], exact=True)
        for action, expected in zip(ACTIONS, a[1:]):
            assert data_equivalence(env.step(action), expected, exact=True)
    finally:
        env.close()


def test_errors_on_the_stream_keep_it_open(address):
    async def main():
        async with AsyncClient(address) as client:
            with pytest.raises(medgym.SessionNotFound):
                await client.step("no-such-session", {"ask": "hello?"})
            stream = client._stream
            with pytest.raises(medgym.InvalidRequest):
                await client.reset(task_id="no-such-task", seed=1)
            session = await client.new_session(seed=1)
            obs, reward, terminated, truncated, info = await session.step("not an action")
            assert info["feedback"]["valid"] is False
            await session.close()
            with pytest.raises(medgym.SessionNotFound):
                await session.step({"ask": "after close"})
            spec = await client.get_spec()
            assert spec.exams
            assert client._stream is stream and stream.error is None  # one stream throughout

    asyncio.run(main())


def test_repeated_request_id_is_answered_once(address):
    async def main():
        async with AsyncClient(address) as client:
            r = await client.reset(seed=3)
            first = await client.step(r.session_id, {"ask": "Any fever?"}, request_id="q-1")
            again = await client.step(r.session_id, {"ask": "Any fever?"}, request_id="q-1")
            nxt = await client.step(r.session_id, {"ask": "Any fever?"}, request_id="q-2")
            await client.close_session(r.session_id)
            return first, again, nxt

    first, again, nxt = asyncio.run(main())
    assert first == again and first.observation.turn == 1
    assert nxt.observation.turn == 2


def test_unavailable_server():
    async def main():
        async with AsyncClient("127.0.0.1:1", timeout=2.0, max_retries=1, retry_backoff=0.01) as client:
            with pytest.raises(medgym.MedgymUnavailable):
                await client.reset(seed=1)
            with pytest.raises(medgym.MedgymUnavailable):
                await client.connect(timeout=0.3)

    asyncio.run(main())


def test_server_gone_mid_stream(server_factory):
    doomed = server_factory()

    async def main():
        async with AsyncClient(doomed.address, timeout=5.0, max_retries=2, retry_backoff=0.05) as client:
            session = await client.new_session(seed=1)
            await session.step({"ask": "Any fever?"})
            doomed.process.kill()
            doomed.process.wait(timeout=10)
            with pytest.raises(medgym.MedgymUnavailable):
                await session.step({"ask": "Still there?"})
            with pytest.raises(medgym.MedgymUnavailable):
                await client.new_session(seed=2)

    asyncio.run(main())
