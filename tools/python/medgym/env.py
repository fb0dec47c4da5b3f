"""``medgym/Diagnosis-v0``: one medgym session as a ``gymnasium.Env`` over the Reset/Step RPCs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from google.protobuf import json_format

from medgym._proto import pb
from medgym.actions import ActionLike, to_action
from medgym.client import DEFAULT_ADDRESS, Client, episode_options
from medgym.convert import observation, reset_info, step_result
from medgym.errors import MedgymError, SessionNotFound
from medgym.routing import Address
from medgym.spaces import action_space, observation_space

__all__ = ["EPISODE_KEYS", "MedgymEnv", "openai_tools"]

#: Keys accepted as environment arguments and as ``reset(options=...)`` overrides.
EPISODE_KEYS = ("task_id", "domain", "split", "max_turns", "budget_usd", "noise", "persona", "reward_weights")

#: Seeds drawn when ``reset()`` gets none: from the environment's np_random, so that
#: ``reset(seed=s)`` followed by ``reset()`` replays the same episodes.
_SEED_HIGH = 2**63


def openai_tools(spec: pb.EnvSpec) -> list[dict[str, Any]]:
    """The server's tools as OpenAI ``tools=[...]`` entries (``{"type": "function", ...}``)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": json.loads(t.parameters_json),
            },
        }
        for t in spec.tools
    ]


def split_episode_args(values: Mapping[str, Any], what: str) -> dict[str, Any]:
    unknown = set(values) - set(EPISODE_KEYS)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; expected some of {list(EPISODE_KEYS)}")
    return dict(values)


def reset_arguments(args: Mapping[str, Any]) -> dict[str, Any]:
    """Client.reset keyword arguments (task, domain, split, options) from episode arguments."""
    return {
        "task_id": args.get("task_id") or "",
        "domain": args.get("domain") or "",
        "split": args.get("split") or "",
        "options": episode_options(
            max_turns=args.get("max_turns") or 0,
            budget_usd=args.get("budget_usd") or 0.0,
            noise=args.get("noise"),
            persona=args.get("persona") or "",
            reward_weights=args.get("reward_weights"),
        ),
    }


def open_client(
    client: Client | None,
    address: Address,
    *,
    timeout: float,
    max_retries: int,
    token: str | None,
    ca_file: str | None,
) -> tuple[Client, bool, pb.EnvSpec]:
    """The given client, or a new one to ``address``; whether it is ours to close; the server's spec.

    A client opened here is closed again if the spec cannot be read, so a failed constructor
    leaks no channel.
    """
    own = client is None
    if client is None:
        client = Client(address, timeout=timeout, max_retries=max_retries, token=token, ca_file=ca_file)
    try:
        return client, own, client.get_spec()
    except BaseException:
        if own:
            client.close()
        raise


class MedgymEnv(gym.Env[dict, ActionLike]):
    """A simulated patient: ask, examine, search, then diagnose.

    Observation: ``{"text": str, "turn": int64, "cost_usd": float64, "discomfort": int64}``.
    Action: raw model text (the action space is ``Text``), a structured dict (``{"ask": ...}``,
    ``{"exam": "cbc"}``, ``{"search": ...}``, ``{"diagnose": ...}``) or an OpenAI tool call; see
    :mod:`medgym.actions`. An invalid action is a normal step with ``info["feedback"]["valid"]``
    False and the invalid-action penalty, never an exception.

    Each ``reset`` starts a new server session (closing the previous one). With ``seed=None``
    the seed is drawn from the environment's ``np_random``, so seeding once replays the same
    sequence of episodes; the server is deterministic per (task, seed, options).

    Args:
        address: ``host:port`` of the medgym server, or several replicas (a list,
            ``"a:1,b:2"``, ``"dns:///name:port"``) routed by session id.
        task_id, domain, split: which case; empty task_id samples from domain/split by seed.
        max_turns, budget_usd, noise, persona, reward_weights: episode options (server defaults
            where unset); each may be overridden per episode in ``reset(options={...})``.
        timeout, max_retries: per-call deadline in seconds and retries of idempotent calls.
        token, ca_file: bearer token and TLS CA file, as :class:`medgym.Client`.
        client: a :class:`medgym.Client` to share (not closed by :meth:`close`).
        render_mode: ``"ansi"`` renders the episode's transcript as text.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
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
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        #: The server's EnvSpec (domains, exams, tools, defaults, limits).
        self.server_spec: pb.EnvSpec
        self.client, self._own_client, self.server_spec = open_client(
            client, address, timeout=timeout, max_retries=max_retries, token=token, ca_file=ca_file
        )
        self._episode = dict(
            zip(EPISODE_KEYS, (task_id, domain, split, max_turns, budget_usd, noise, persona, reward_weights))
        )
        self.observation_space = observation_space()
        self.action_space = action_space(self.server_spec.limits.max_text_bytes or 16 * 1024)
        #: The live session's id, or None before the first reset and after close.
        self.session_id: str | None = None
        #: The current episode's unique id (as in trajectories).
        self.episode_id: str | None = None
        #: The last raw response (ResetResponse or StepResponse).
        self.last_response: pb.ResetResponse | pb.StepResponse | None = None
        self._transcript: list[str] = []
        self._closed = False

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The agent's tools in OpenAI form, for the prompt."""
        return openai_tools(self.server_spec)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        args = {**self._episode, **split_episode_args(options or {}, "reset option")}
        if seed is None:
            seed = int(self.np_random.integers(0, _SEED_HIGH))
        self._end_session()
        r = self.client.reset(seed=seed, **reset_arguments(args))
        self.session_id = r.session_id
        self.episode_id = r.info.episode_id
        self.last_response = r
        self._transcript = [r.observation.text]
        return observation(r.observation), reset_info(r)

    def step(self, action: ActionLike) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.session_id is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        wire = to_action(action)
        r = self.client.step(self.session_id, wire)
        self.last_response = r
        if self.render_mode == "ansi":
            self._transcript.append(f"> {_describe(wire)}")
            self._transcript.append(r.observation.text)
        return step_result(r)

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n".join(self._transcript) + "\n"
        return None

    def trajectory(self, *, include_record: bool = False) -> pb.Trajectory:
        """The recorded episode so far (GetTrajectory); the hidden case once it has ended, and with
        ``include_record`` the server's JSONL record line (:func:`medgym.record.episode_record`)."""
        if self.session_id is None:
            raise gym.error.ResetNeeded("no session: call reset() first")
        return self.client.trajectory(self.session_id, include_record=include_record)

    def _end_session(self) -> None:
        session, self.session_id = self.session_id, None
        if session is not None:
            try:
                self.client.close_session(session)
            except SessionNotFound:
                pass  # already expired on the server

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._end_session()
        except MedgymError:
            pass  # the server is gone; its TTL frees the session
        finally:
            if self._own_client:
                self.client.close()
        super().close()


def _describe(action: pb.Action) -> str:
    kind = action.WhichOneof("kind")
    if kind == "text":
        return action.text
    fields = json_format.MessageToDict(getattr(action, kind), preserving_proto_field_name=True)
    return f"{kind} {json.dumps(fields, ensure_ascii=False)}"
