"""A gymnasium ``VectorEnv`` of many medgym sessions stepped together with BatchStep.

Autoreset is gymnasium's NEXT_STEP mode, done by the server (``BatchStepRequest.autoreset``):
the step after a terminal or truncated one ignores that slot's action, starts the slot's next
episode in the same session with the next seed of that session's chain (a fixed scramble of
the previous seed, reported in ``info["seed"]``) and answers with its first
observation, reward 0, terminated and truncated False, and ``info["autoreset"]`` True.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from medgym._proto import pb
from medgym.actions import ActionLike, to_action
from medgym.client import DEFAULT_ADDRESS, Client, new_request_id, reset_request
from medgym.convert import observation, reset_info, step_info
from medgym.env import EPISODE_KEYS, open_client, reset_arguments, split_episode_args
from medgym.errors import MedgymError
from medgym.routing import Address
from medgym.spaces import action_space, observation_space

__all__ = ["SEED_STRIDE", "MedgymVectorEnv"]

#: Sub-environment i of ``reset(seed=s)`` starts at seed ``s + i * SEED_STRIDE``. (The server's
#: autoreset chains scramble seeds, so gymnasium's usual ``s + i`` would not collide either; the
#: stride is kept so that seeds of existing runs stay the same.)
SEED_STRIDE = 2**32
_U64 = 2**64
_SEED_HIGH = 2**63


class MedgymVectorEnv(VectorEnv):
    """``num_envs`` medgym sessions stepped in one BatchStep message per step.

    Observations are batched as ``{"text": tuple[str, ...], "turn": int64[n], "cost_usd":
    float64[n], "discomfort": int64[n]}``; actions are a sequence of ``num_envs`` actions in any
    form :func:`medgym.to_action` accepts. Infos follow gymnasium's vector convention (arrays with
    ``_key`` masks). ``reset(options={"reset_mask": mask, ...})`` resets only the masked slots.

    A slot whose step failed on the server (e.g. its session expired: SessionNotFound) raises
    that slot's exception, with ``.slot`` set to its index; the other slots' steps took effect.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int,
        address: Address = DEFAULT_ADDRESS,
        *,
        task_id: str = "",
        domain: str = "",
        split: str = "",
        max_turns: int = 0,
        budget_usd: float = 0.0,
        noise: str | Mapping[str, Any] | None = None,
        persona: str = "",
        reward_weights: Mapping[str, float] | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        token: str | None = None,
        ca_file: str | None = None,
        client: Client | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.server_spec: pb.EnvSpec
        self.client, self._own_client, self.server_spec = open_client(
            client, address, timeout=timeout, max_retries=max_retries, token=token, ca_file=ca_file
        )
        self._episode = dict(
            zip(EPISODE_KEYS, (task_id, domain, split, max_turns, budget_usd, noise, persona, reward_weights))
        )
        self.single_observation_space = observation_space()
        self.single_action_space = action_space(self.server_spec.limits.max_text_bytes or 16 * 1024)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        #: Session id per slot (None before reset).
        self.session_ids: list[str | None] = [None] * self.num_envs
        #: Current episode id per slot.
        self.episode_ids: list[str | None] = [None] * self.num_envs
        self._needs_reset = np.zeros(self.num_envs, dtype=np.bool_)
        self._last_obs: list[dict[str, Any] | None] = [None] * self.num_envs
        self.closed = False

    # -- reset ------------------------------------------------------------------------------

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int]:
        if seed is None:
            return [int(s) for s in self.np_random.integers(0, _SEED_HIGH, size=self.num_envs)]
        if isinstance(seed, (int, np.integer)):
            return [(int(seed) + i * SEED_STRIDE) % _U64 for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        return [int(self.np_random.integers(0, _SEED_HIGH)) if s is None else int(s) for s in seeds]

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Starts a new episode in every slot (or in the slots of ``options["reset_mask"]``)."""
        super().reset(seed=seed if isinstance(seed, (int, np.integer)) else None)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = np.ones(self.num_envs, dtype=np.bool_) if mask is None else np.asarray(mask, dtype=np.bool_)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        args = reset_arguments({**self._episode, **split_episode_args(options, "reset option")})
        seeds = self._seeds(seed)
        slots = [i for i in range(self.num_envs) if mask[i]]
        if not all(self._last_obs[i] is not None for i in range(self.num_envs) if not mask[i]):
            raise ValueError("reset_mask leaves out a slot that was never reset")

        stale = [self.session_ids[i] for i in slots if self.session_ids[i] is not None]
        if stale:
            self.client.close_many(stale)  # expired ones answer NOT_FOUND: nothing to free
        for i in slots:
            self.session_ids[i] = None
        responses = self.client.reset_many(
            [reset_request(args["task_id"], args["domain"], args["split"], seeds[i], args["options"]) for i in slots]
        )
        infos: dict[str, Any] = {}
        for i, r in zip(slots, responses, strict=True):
            self.session_ids[i] = r.session_id
            self.episode_ids[i] = r.info.episode_id
            self._last_obs[i] = observation(r.observation)
            self._needs_reset[i] = False
            infos = self._add_info(infos, _vector_info(reset_info(r)), i)
        return self._batch_obs(), infos

    # -- step -------------------------------------------------------------------------------

    def step(
        self, actions: Sequence[ActionLike]
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if any(s is None for s in self.session_ids):
            raise RuntimeError("call reset() before step()")
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        requests = []
        for i, action in enumerate(actions):
            # An ended slot's action is ignored by the autoreset step; any valid action will do.
            wire = pb.Action(text="") if self._needs_reset[i] else to_action(action)
            requests.append(pb.StepRequest(session_id=self.session_ids[i], action=wire, request_id=new_request_id()))
        results = self.client.batch_step(requests, autoreset=True)

        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        failed: MedgymError | None = None
        for i, r in enumerate(results):
            if isinstance(r, MedgymError):
                if failed is None:
                    r.slot = i  # type: ignore[attr-defined]
                    failed = r
                continue
            self._last_obs[i] = observation(r.observation)
            rewards[i] = r.reward
            terminations[i] = r.terminated
            truncations[i] = r.truncated
            if r.info.autoreset:
                self.episode_ids[i] = r.info.episode_id
            infos = self._add_info(infos, _vector_info(step_info(r)), i)
        if failed is not None:
            raise failed
        self._needs_reset = terminations | truncations
        return self._batch_obs(), rewards, terminations, truncations, infos

    def _batch_obs(self) -> dict[str, Any]:
        obs = self._last_obs
        return {
            "text": tuple(o["text"] for o in obs),  # type: ignore[index]
            "turn": np.array([o["turn"] for o in obs], dtype=np.int64),  # type: ignore[index]
            "cost_usd": np.array([o["cost_usd"] for o in obs], dtype=np.float64),  # type: ignore[index]
            "discomfort": np.array([o["discomfort"] for o in obs], dtype=np.int64),  # type: ignore[index]
        }

    # -- lifetime ---------------------------------------------------------------------------

    def trajectory(self, index: int) -> pb.Trajectory:
        """The recorded episode of slot ``index``."""
        session = self.session_ids[index]
        if session is None:
            raise RuntimeError("call reset() first")
        return self.client.trajectory(session)

    def close_extras(self, **kwargs: Any) -> None:
        live = [s for s in self.session_ids if s is not None]
        self.session_ids = [None] * self.num_envs
        try:
            if live:
                self.client.close_many(live)
        finally:
            if self._own_client:
                self.client.close()


def _vector_info(info: dict[str, Any]) -> dict[str, Any]:
    # Seeds are uint64; gymnasium would batch a Python int into int64, which overflows.
    info["seed"] = np.uint64(info["seed"])
    return info
