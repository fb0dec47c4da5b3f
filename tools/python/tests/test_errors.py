"""Transport and protocol errors map to clear Python exceptions; retries are idempotent."""

from __future__ import annotations

import asyncio
import socket
import time

import grpc
import gymnasium as gym
import pytest

import medgym
from medgym.client import Client


def test_server_down_is_unavailable():
    with Client("127.0.0.1:1", timeout=2.0, max_retries=2, retry_backoff=0.01) as c:
        t = time.monotonic()
        with pytest.raises(medgym.MedgymUnavailable) as e:
            c.reset(seed=1)
        assert time.monotonic() - t < 10
        assert "127.0.0.1:1" in str(e.value)
        assert isinstance(e.value, ConnectionError)
        with pytest.raises(medgym.MedgymUnavailable):
            c.step("abc", {"ask": "x"})
        with pytest.raises(medgym.MedgymUnavailable):
            c.wait_ready(timeout=0.2)
    with pytest.raises(medgym.MedgymUnavailable):
        gym.make(medgym.ENV_ID, address="127.0.0.1:1", max_retries=0)


def test_session_not_found_after_ttl(server_factory):
    short = server_factory("--session-ttl", "1")
    env = gym.make(medgym.ENV_ID, address=short.address)
    try:
        env.reset(seed=1)
        env.step({"ask": "Any fever?"})
        # The reaper runs every second and closes sessions idle for a second or more.
        for idle in (2.5, 5.0):
            time.sleep(idle)
            try:
                env.step({"ask": "Are you still there?"})
            except medgym.SessionNotFound:
                break
        else:
            pytest.fail("the session did not expire")
        # A reset after expiry starts over without complaint.
        obs, info = env.reset(seed=1)
        assert obs["turn"] == 0
    finally:
        env.close()


def test_capacity_exceeded(server_factory):
    small = server_factory("--max-sessions", "2")
    with Client(small.address) as c:
        a = c.reset(seed=1)
        c.reset(seed=2)
        with pytest.raises(medgym.CapacityExceeded):
            c.reset(seed=3)
        c.close_session(a.session_id)
        c.reset(seed=3)  # room again


def test_invalid_request(client):
    r = client.reset(seed=1)
    limit = client.get_spec().limits.max_text_bytes
    with pytest.raises(medgym.InvalidRequest) as e:
        client.step(r.session_id, "x" * (limit + 1))
    assert isinstance(e.value, ValueError)
    with pytest.raises(medgym.InvalidRequest):
        client.reset(task_id="no-such-task")
    with pytest.raises(medgym.InvalidRequest):
        client.step(r.session_id, medgym.pb.Action())  # no action kind
    client.close_session(r.session_id)


def test_episode_over(client):
    r = client.reset(seed=2)
    client.step(r.session_id, {"diagnose": "influenza"})
    with pytest.raises(medgym.EpisodeOver):
        client.step(r.session_id, {"ask": "and now?"})
    assert client.close_session(r.session_id).episode_finished


def test_timeout():
    # A socket that accepts connections and never speaks HTTP/2: every call runs into its deadline.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with Client(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3, max_retries=1, retry_backoff=0.01) as c:
            t = time.monotonic()
            with pytest.raises(medgym.MedgymTimeout) as e:
                c.step("abc", {"ask": "x"})
            assert isinstance(e.value, TimeoutError)
            assert 0.5 < time.monotonic() - t < 10  # the step was retried once
            with pytest.raises(medgym.MedgymTimeout):
                c.get_spec(timeout=0.1)


def test_retry_with_the_same_request_id_takes_one_turn(client):
    r = client.reset(seed=4)
    first = client.step(r.session_id, {"ask": "Any fever?"}, request_id="retry-1")
    again = client.step(r.session_id, {"ask": "Different question, same id"}, request_id="retry-1")
    assert again == first
    nxt = client.step(r.session_id, {"ask": "Any cough?"})
    assert nxt.observation.turn == 2
    client.close_session(r.session_id)


def test_batch_step_slot_errors_are_values(client):
    a = client.reset(seed=1)
    results = client.batch_step([(a.session_id, {"ask": "Any fever?"}), ("no-such-session", "x")])
    assert results[0].observation.turn == 1
    assert isinstance(results[1], medgym.SessionNotFound)
    client.close_session(a.session_id)


class _LostReply(grpc.RpcError):
    """The server took the call, but its answer never arrived."""

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "reply lost"


def test_client_retries_a_step_with_the_same_request_id(client):
    r = client.reset(seed=4)
    real = client._stub.Step
    seen: list[str] = []

    def flaky(request, **kwargs):
        seen.append(request.request_id)
        response = real(request, **kwargs)
        if len(seen) == 1:
            raise _LostReply()
        return response

    client._stub.Step = flaky
    response = client.step(r.session_id, {"ask": "Any fever?"})
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0]
    assert response.observation.turn == 1  # the retry was answered from the first step
    client._stub.Step = real
    assert client.step(r.session_id, {"ask": "Any cough?"}).observation.turn == 2
    client.close_session(r.session_id)


def test_async_client_retries_a_step_with_the_same_request_id(address):
    from medgym.aio import AsyncClient

    async def main():
        async with AsyncClient(address, retry_backoff=0.01) as c:
            r = await c.reset(seed=4)
            real = c._round_trip
            seen: list[str] = []

            async def flaky(kind, message, timeout):
                response = await real(kind, message, timeout)
                if kind == "step":
                    seen.append(message.request_id)
                    if len(seen) == 1:
                        raise medgym.MedgymUnavailable("reply lost")
                return response

            c._round_trip = flaky
            response = await c.step(r.session_id, {"ask": "Any fever?"})
            await c.close_session(r.session_id)
            return seen, response

    seen, response = asyncio.run(main())
    assert len(seen) == 2 and seen[0] == seen[1]
    assert response.observation.turn == 1


def test_server_gone_during_an_episode(server_factory):
    doomed = server_factory()
    env = gym.make(medgym.ENV_ID, address=doomed.address, max_retries=2)
    try:
        env.reset(seed=1)
        doomed.process.kill()
        doomed.process.wait(timeout=10)
        with pytest.raises(medgym.MedgymUnavailable):
            env.step({"ask": "Any fever?"})
    finally:
        env.close()  # does not raise with the server gone
