"""TLS and bearer tokens against a real server: `medgym cert`, `serve --tls-cert --tls-key
--auth-token-file`, and every client connecting with ``ca_file=`` and ``token=``."""

from __future__ import annotations

import asyncio
import subprocess

import gymnasium as gym
import pytest
from conftest import medgym_binary

import medgym
from medgym.aio import AsyncClient
from medgym.routing import replica_of

TOKEN = "tok-3b9f6c1e2d"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    out = tmp_path_factory.mktemp("certs")
    subprocess.run([str(medgym_binary()), "cert", "--out", str(out)], check=True, capture_output=True)
    other = tmp_path_factory.mktemp("other-ca")
    subprocess.run([str(medgym_binary()), "cert", "--out", str(other)], check=True, capture_output=True)
    (out / "tokens").write_text(f"# trainers\n{TOKEN}\n")
    return out, other / "ca.pem"


def tls_flags(certs, replica):
    out, _ = certs
    return (
        "--tls-cert",
        str(out / "server.pem"),
        "--tls-key",
        str(out / "server.key"),
        "--auth-token-file",
        str(out / "tokens"),
        "--replica-id",
        replica,
    )


@pytest.fixture(scope="module")
def secure(server_factory, certs):
    ca = str(certs[0] / "ca.pem")
    return server_factory(*tls_flags(certs, "tls-a"), client_options={"ca_file": ca}), ca


def test_an_episode_over_tls_with_the_token(secure):
    server, ca = secure
    env = gym.make(medgym.ENV_ID, address=server.address, ca_file=ca, token=TOKEN)
    try:
        obs, info = env.reset(seed=3)
        obs, *_ = env.step({"ask": "Do you have a fever?"})
        assert obs["turn"] == 1
        obs, _, terminated, _, info = env.step({"diagnose": "influenza"})
        assert terminated and "truth" in info
    finally:
        env.close()


def test_the_certificate_names_localhost_too(secure):
    server, ca = secure
    port = server.address.rpartition(":")[2]
    with medgym.Client(f"localhost:{port}", ca_file=ca, token=TOKEN) as c:
        assert c.get_spec().replica_id == "tls-a"


def test_health_needs_no_token(secure):
    server, ca = secure
    with medgym.Client(server.address, ca_file=ca) as c:
        assert c.health() == "SERVING"


def test_without_the_token_is_unauthenticated(secure):
    server, ca = secure
    with (
        medgym.Client(server.address, ca_file=ca, max_retries=0) as c,
        pytest.raises(medgym.Unauthenticated, match="authorization"),
    ):
        c.reset(seed=1)
    with (
        medgym.Client(server.address, ca_file=ca, token="wrong", max_retries=0) as c,
        pytest.raises(medgym.Unauthenticated),
    ):
        c.get_spec()


def test_without_the_ca_the_error_says_what_to_do(secure, certs):
    server, _ = secure
    with (
        medgym.Client(server.address, token=TOKEN, timeout=3.0, max_retries=0) as c,
        pytest.raises(medgym.MedgymUnavailable, match="ca_file="),
    ):
        c.get_spec()
    wrong_ca = medgym.Client(server.address, token=TOKEN, ca_file=str(certs[1]), timeout=3.0, max_retries=0)
    with wrong_ca, pytest.raises(medgym.MedgymUnavailable, match="certificate"):
        wrong_ca.get_spec()
    with pytest.raises(FileNotFoundError, match="CA file"):
        medgym.Client(server.address, ca_file=str(certs[0] / "missing.pem"))
    with pytest.raises(ValueError, match="no PEM certificate"):
        medgym.Client(server.address, ca_file=str(certs[0] / "tokens"))


def test_asyncio_and_vector_clients_over_tls(secure):
    server, ca = secure

    async def main():
        async with AsyncClient(server.address, ca_file=ca, token=TOKEN) as client:
            session = await client.new_session(seed=5)
            obs, *_ = await session.step({"ask": "Any cough?"})
            await session.close()
            return obs["turn"]

    assert asyncio.run(main()) == 1
    envs = gym.make_vec(medgym.ENV_ID, num_envs=2, address=server.address, ca_file=ca, token=TOKEN)
    try:
        envs.reset(seed=1)
        obs, *_ = envs.step([{"ask": "Any fever?"}] * 2)
        assert list(obs["turn"]) == [1, 1]
    finally:
        envs.close()


def test_routing_over_tls_replicas(secure, server_factory, certs):
    server, ca = secure
    other = server_factory(*tls_flags(certs, "tls-b"), client_options={"ca_file": ca})
    with medgym.Client([server.address, other.address], ca_file=ca, token=TOKEN) as c:
        sessions = [c.reset(seed=s).session_id for s in range(4)]
        assert {replica_of(s) for s in sessions} == {"tls-a", "tls-b"}
        assert all(r.observation.turn == 1 for r in c.batch_step([(s, {"ask": "Any fever?"}) for s in sessions]))
        c.close_many(sessions)
    with (
        medgym.Client([server.address, other.address], ca_file=ca, max_retries=0) as c,
        pytest.raises(medgym.Unauthenticated),
    ):
        c.reset(seed=1)
