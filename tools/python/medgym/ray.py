"""A rollout farm on Ray: N actors, each stepping a batch of medgym sessions over BatchStep.

::

    import ray, medgym.ray

    ray.init()                                   # or ray.init(address="auto") on a cluster
    def policy(observation, info):               # anything MedgymEnv.step accepts
        return {"diagnose": "influenza"} if observation["turn"] >= 3 else {"ask": "Any fever?"}

    records = medgym.ray.rollout(["10.0.0.5:50051", "10.0.0.6:50051"], policy, episodes=1000,
                                 seed=0, num_actors=8, noise="realistic")

Each record is the dict of the line the server's JSONL writer produces for the episode
(``docs/trajectory.schema.json``), made by the server itself (:mod:`medgym.record`). Records come
back in episode order; episode ``i`` is played with seed ``seed + i``, so the result depends on
neither the number of actors nor the number of servers (a deterministic policy gives the same
records, episode ids aside).

Every actor has its own routing :class:`medgym.Client` over all the addresses (a list, a
comma-separated string or ``"dns:///name:port"``): resets spread over the live servers, steps go to
the server that owns the session. If a server dies mid-episode, its sessions answer NOT_FOUND
(:class:`medgym.SessionNotFound`) and the actor plays those episodes again from reset on a live
server with the same seed, up to ``max_attempts`` times each, so a farm finishes on the survivors
and returns every episode exactly once. Scaling out is adding Ray nodes and servers, not code.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ray

from medgym.actions import ActionLike
from medgym.client import Client, reset_request
from medgym.convert import observation, reset_info, step_info
from medgym.env import EPISODE_KEYS, reset_arguments
from medgym.errors import MedgymUnavailable, SessionNotFound
from medgym.record import record_line
from medgym.routing import Address

__all__ = ["CLIENT_KEYS", "Policy", "RolloutWorker", "rollout", "to_dataset"]

#: ``policy(observation, info)`` → an action in any form ``MedgymEnv.step`` accepts.
Policy = Callable[[dict[str, Any], dict[str, Any]], ActionLike]

#: ``**env_options`` keys that configure the connection rather than the episode.
CLIENT_KEYS = (
    "timeout",
    "max_retries",
    "retry_backoff",
    "token",
    "ca_file",
    "tls",
    "tls_server_name",
    "probe_interval",
)

_U64 = 2**64


class RolloutWorker:
    """Plays a list of episodes over one routing client, ``envs`` sessions at a time.

    Usable without Ray (``RolloutWorker(...).run(...)`` plays in the calling process); the farm
    runs one per Ray actor.
    """

    def __init__(self, address: Address, envs: int, client_options: dict[str, Any], episode: dict[str, Any]) -> None:
        if envs < 1:
            raise ValueError(f"envs must be at least 1, got {envs}")
        self.envs = envs
        self.client = Client(address, **client_options)
        self._reset = reset_arguments(episode)

    def run(
        self,
        episodes: Sequence[tuple[int, int]],
        policy: Policy,
        max_attempts: int = 3,
        output: str | None = None,
    ) -> list[tuple[int, dict[str, Any], int]]:
        """Plays ``(index, seed)`` episodes; returns ``(index, record, attempts)`` per episode in
        the order they finished, and appends each record to the JSONL file ``output`` as it ends."""
        queue = collections.deque((index, seed, 1) for index, seed in episodes)
        # A slot: [index, seed, attempt, session_id, observation, info].
        slots: list[list[Any] | None] = [None] * self.envs
        done: list[tuple[int, dict[str, Any], int]] = []
        sink = open(output, "a", encoding="utf-8") if output else None  # noqa: SIM115 - closed below
        try:
            while queue or any(slots):
                self._fill(slots, queue)
                active = [i for i, s in enumerate(slots) if s is not None]
                results = self.client.batch_step([(slots[i][3], policy(slots[i][4], slots[i][5])) for i in active])
                finished: list[int] = []
                for i, r in zip(active, results, strict=True):
                    slot = slots[i]
                    if isinstance(r, Exception):
                        slots[i] = None
                        self._again(queue, slot, r, max_attempts)
                        continue
                    slot[4], slot[5] = observation(r.observation), step_info(r)
                    if r.terminated or r.truncated:
                        finished.append(i)
                ended: list[str] = []
                for i in finished:
                    slot, slots[i] = slots[i], None
                    ended.append(slot[3])
                    try:
                        trajectory = self.client.trajectory(slot[3], include_record=True)
                    except (SessionNotFound, MedgymUnavailable) as e:
                        self._again(queue, slot, e, max_attempts)  # its server died after the last step
                        continue
                    line = record_line(trajectory)
                    if line is None:
                        raise RuntimeError(f"episode {slot[0]} ended but its trajectory is not complete")
                    done.append((slot[0], json.loads(line), slot[2]))
                    if sink is not None:
                        sink.write(line + "\n")
                        sink.flush()
                if ended:
                    self.client.close_many(ended)  # errors ignored: a dead server's TTL frees nothing to free
        finally:
            if sink is not None:
                sink.close()
        return done

    def _fill(self, slots: list[list[Any] | None], queue: collections.deque) -> None:
        free = [i for i, s in enumerate(slots) if s is None][: len(queue)]
        if not free:
            return
        starting = [queue.popleft() for _ in free]
        r = self._reset
        responses = self.client.reset_many(
            [reset_request(r["task_id"], r["domain"], r["split"], seed, r["options"]) for _, seed, _ in starting]
        )
        for i, (index, seed, attempt), resp in zip(free, starting, responses, strict=True):
            slots[i] = [index, seed, attempt, resp.session_id, observation(resp.observation), reset_info(resp)]

    @staticmethod
    def _again(queue: collections.deque, slot: list[Any], error: Exception, max_attempts: int) -> None:
        if not isinstance(error, (SessionNotFound, MedgymUnavailable)):
            raise error
        if slot[2] >= max_attempts:
            raise RuntimeError(f"episode {slot[0]} (seed {slot[1]}) failed {slot[2]} times; last: {error}") from error
        # First in line: a retried episode should not wait behind the rest of the queue.
        queue.appendleft((slot[0], slot[1], slot[2] + 1))

    def close(self) -> None:
        self.client.close()


def _split_options(env_options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    client = {k: v for k, v in env_options.items() if k in CLIENT_KEYS}
    episode = {k: v for k, v in env_options.items() if k in EPISODE_KEYS}
    unknown = set(env_options) - set(client) - set(episode)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; expected some of {[*EPISODE_KEYS, *CLIENT_KEYS]}")
    return client, episode


def rollout(
    addresses: Address,
    policy: Policy,
    episodes: int,
    seed: int = 0,
    num_actors: int = 2,
    *,
    envs_per_actor: int = 4,
    output_dir: str | os.PathLike | None = None,
    max_attempts: int = 3,
    actor_options: dict[str, Any] | None = None,
    **env_options: Any,
) -> list[dict[str, Any]]:
    """Plays ``episodes`` episodes on Ray actors and returns their trajectory records in episode order.

    Args:
        addresses: the medgym servers: ``"host:port"``, a list, ``"a:1,b:2"`` or ``"dns:///name:port"``.
        policy: ``policy(observation, info)`` → action (raw text, a dict, an OpenAI tool call, ...),
            called with what ``MedgymEnv.reset``/``step`` return; shipped to the actors by Ray.
        episodes: how many episodes; episode ``i`` has seed ``seed + i``.
        num_actors: Ray actors (each with its own connections); episode ``i`` goes to actor
            ``i % num_actors``.
        envs_per_actor: sessions an actor steps together, one BatchStep per step.
        output_dir: also write each actor's records as JSONL as they finish
            (``episodes-{actor:05d}-of-{num_actors:05d}.jsonl``, in the server's byte format); the
            directory must be writable from every node the actors run on.
        max_attempts: plays of one episode before the farm gives up (a replay follows the death of
            the server it ran on).
        actor_options: Ray actor options (default ``{"num_cpus": 1}``).
        **env_options: episode options of :class:`medgym.MedgymEnv` (``task_id``, ``domain``,
            ``split``, ``max_turns``, ``budget_usd``, ``noise``, ``persona``, ``reward_weights``)
            and connection options (``timeout``, ``max_retries``, ``token``, ``ca_file``, ...).
    """
    if episodes < 0 or num_actors < 1:
        raise ValueError("episodes must be >= 0 and num_actors >= 1")
    if not (0 <= seed and seed + max(episodes - 1, 0) < _U64):
        raise ValueError("seeds seed .. seed + episodes - 1 must fit in uint64")
    client_options, episode = _split_options(env_options)
    if episodes == 0:
        return []
    num_actors = min(num_actors, episodes)
    out = Path(output_dir) if output_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    remote = ray.remote(RolloutWorker).options(**(actor_options or {"num_cpus": 1}))
    actors = [remote.remote(addresses, envs_per_actor, client_options, episode) for _ in range(num_actors)]
    runs = {}
    for k, actor in enumerate(actors):
        share = [(i, seed + i) for i in range(k, episodes, num_actors)]
        shard = str(out / f"episodes-{k:05d}-of-{num_actors:05d}.jsonl") if out is not None else None
        runs[actor.run.remote(share, policy, max_attempts, shard)] = actor
    records: dict[int, dict[str, Any]] = {}
    try:
        pending = list(runs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                for index, record, _ in ray.get(ref):
                    if index in records:
                        raise RuntimeError(f"episode {index} came back twice")
                    records[index] = record
                # Its work is done: free its resources so actors still waiting for a CPU start.
                ray.kill(runs[ref])
    finally:
        for actor in actors:
            ray.kill(actor)
    missing = sorted(set(range(episodes)) - set(records))
    if missing:
        raise RuntimeError(f"episodes {missing[:10]}... did not come back")
    return [records[i] for i in range(episodes)]


def to_dataset(records: Sequence[dict[str, Any]]) -> Any:
    """The records as a Ray Dataset (needs ``ray[data]``). Nested fields are kept as JSON text in
    a ``record`` column next to the flat ones, so every row has the same schema."""
    import ray.data

    return ray.data.from_items(
        [
            {
                "episode_id": r["episode_id"],
                "task_id": r["task_id"],
                "seed": r["seed"],
                "total_reward": r["outcome"]["total_reward"],
                "correct": r["outcome"]["correct"],
                "record": json.dumps(r, ensure_ascii=False),
            }
            for r in records
        ]
    )
