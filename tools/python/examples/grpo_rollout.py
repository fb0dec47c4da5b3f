"""GRPO-style group rollouts on medgym, in the shapes TRL and verl environment hooks take.

    python examples/grpo_rollout.py --address 127.0.0.1:50051 --groups 2 --group-size 4

GRPO samples a *group* of completions for one prompt and scores each against the group: here a
prompt is one medgym episode (a seed), every member of the group plays that same seed (same
patient, same noise), and the advantage of a member is its return normalised within the group,
``(r - mean(r)) / (std(r) + eps)``. Groups run concurrently over one Interact stream.

No GPU or model is needed: ``ToyPolicy`` stands in for the LLM. It maps chat messages to raw
model text (tags or tool-call JSON, sometimes malformed), which is exactly what a real policy
hands to ``session.step(text)``; the server parses it and keeps it verbatim in the trajectory.

Hooks shown:
- ``rollout_group`` / ``group_advantages``: the core, framework-free.
- ``make_trl_rollout_func``: TRL ``GRPOTrainer(rollout_func=...)`` shape: ``rollout_func(prompts,
  trainer) -> {"prompt_ids", "completion_ids", "logprobs", "env_reward"}``; extra keys reach reward
  functions as keyword arguments (``env_reward_func`` passes the environment's return through).
  TRL repeats each prompt ``num_generations`` times in a row; each run of equal prompts is a group.
- ``MedgymInteraction``: verl multi-turn ``BaseInteraction`` shape (``start_interaction``,
  ``generate_response``, ``calculate_score``, ``finalize_interaction``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medgym.aio import AsyncClient, AsyncSession

Messages = list[dict[str, Any]]
Policy = Callable[[Messages], str]


# ---------------------------------------------------------------------------------------------
# The prompt and a stand-in policy
# ---------------------------------------------------------------------------------------------


def system_prompt(tools: list[dict[str, Any]]) -> str:
    return (
        "You are a physician. Interview and examine the patient, then diagnose. Reply with exactly "
        'one tool call as JSON {"name": ..., "arguments": {...}}.\nTools:\n' + json.dumps(tools)
    )


class ToyPolicy:
    """A stochastic stand-in for an LLM: messages in, raw model text out."""

    QUESTIONS = ["Do you have a fever?", "Where is the pain?", "How long has this been going on?", "Any cough?"]
    DIAGNOSES = ["acute myocardial infarction", "community-acquired pneumonia", "acute appendicitis", "migraine"]

    def __init__(self, exams: list[str], seed: int) -> None:
        self.exams = exams
        self.rng = random.Random(seed)

    def __call__(self, messages: Messages) -> str:
        turn = sum(m["role"] == "assistant" for m in messages)
        r = self.rng.random()
        if turn >= 4 or (turn >= 2 and r < 0.3):
            primary = self.rng.choice(self.DIAGNOSES)
            args = {"primary": primary, "differential": [{"name": primary, "probability": 0.7}]}
            return json.dumps({"name": "diagnose", "arguments": args})
        if r < 0.45:
            return f"Let me ask. <ask>{self.rng.choice(self.QUESTIONS)}</ask>"
        if r < 0.9:
            return json.dumps({"name": "order_exam", "arguments": {"exam_id": self.rng.choice(self.exams)}})
        return "Hmm, I am not sure."  # malformed on purpose: comes back as feedback, not an error


# ---------------------------------------------------------------------------------------------
# Framework-free core
# ---------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    seed: int
    messages: Messages
    completions: list[str] = field(default_factory=list)  # the policy's raw texts, in order
    rewards: list[float] = field(default_factory=list)  # per step
    info: dict[str, Any] = field(default_factory=dict)  # the last step's info (truth, totals)

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))


async def rollout_episode(
    client: AsyncClient, seed: int, policy: Policy, tools: list, max_steps: int = 12, **episode: Any
) -> Rollout:
    session = await client.new_session(seed=seed, **episode)
    async with session:
        messages: Messages = [
            {"role": "system", "content": system_prompt(tools)},
            {"role": "user", "content": session.observation["text"]},
        ]
        rollout = Rollout(seed=seed, messages=messages)
        for _ in range(max_steps):
            text = policy(messages)
            obs, reward, terminated, truncated, info = await session.step(text)
            messages += [{"role": "assistant", "content": text}, {"role": "user", "content": obs["text"]}]
            rollout.completions.append(text)
            rollout.rewards.append(reward)
            rollout.info = info
            if terminated or truncated:
                break
    return rollout


def group_advantages(rewards: list[float] | np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """GRPO advantages of one group: returns normalised by the group's mean and std."""
    r = np.asarray(rewards, dtype=np.float64)
    return (r - r.mean()) / (r.std() + eps)


async def rollout_group(
    client: AsyncClient,
    seed: int,
    group_size: int,
    make_policy: Callable[[int, int], Policy],
    tools: list,
    **episode: Any,
) -> list[Rollout]:
    """``group_size`` episodes of the same seed, concurrently; member i uses ``make_policy(seed, i)``."""
    return list(
        await asyncio.gather(
            *(rollout_episode(client, seed, make_policy(seed, i), tools, **episode) for i in range(group_size))
        )
    )


# ---------------------------------------------------------------------------------------------
# TRL: GRPOTrainer(rollout_func=...)
# ---------------------------------------------------------------------------------------------


def seed_of(prompt: str) -> int:
    """A dataset prompt names its episode: "medgym seed=17"; any other text is hashed to a seed."""
    m = re.search(r"seed\s*=\s*(\d+)", prompt)
    return int(m.group(1)) if m else zlib.crc32(prompt.encode("utf-8"))


def byte_tokens(text: str) -> list[int]:
    """Stand-in tokenizer (UTF-8 bytes); a real hook uses the trainer's processing_class."""
    return list(text.encode("utf-8"))


def make_trl_rollout_func(address: str, make_policy: Callable[[int, int], Policy]):
    """A ``rollout_func(prompts, trainer=None)`` for TRL's GRPOTrainer (multi-turn, env reward)."""

    def rollout_func(prompts: list[str], trainer: Any = None) -> dict[str, list]:
        async def run() -> list[Rollout]:
            async with AsyncClient(address) as client:
                tools = _openai_tools(await client.get_spec())
                # Consecutive equal prompts form a group, as TRL's sampler lays them out.
                groups: list[tuple[str, int]] = []
                for p in prompts:
                    if groups and groups[-1][0] == p:
                        groups[-1] = (p, groups[-1][1] + 1)
                    else:
                        groups.append((p, 1))
                results = await asyncio.gather(
                    *(rollout_group(client, seed_of(p), n, make_policy, tools) for p, n in groups)
                )
                return [r for group in results for r in group]

        rollouts = asyncio.run(run())
        prompt_ids, completion_ids, logprobs = [], [], []
        for r in rollouts:
            prompt_ids.append(byte_tokens(r.messages[1]["content"]))
            # The whole multi-turn completion; a real hook masks the environment's turns out.
            completion = "".join(m["content"] for m in r.messages[2:])
            completion_ids.append(byte_tokens(completion))
            logprobs.append([0.0] * len(completion_ids[-1]))  # from the inference engine in practice
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": logprobs,
            "env_reward": [r.total_reward for r in rollouts],
        }

    return rollout_func


def env_reward_func(completions: list, env_reward: list[float] | None = None, **kwargs: Any) -> list[float]:
    """A TRL reward function that passes the environment's episode return through."""
    return [float(r) for r in (env_reward or [0.0] * len(completions))]


# ---------------------------------------------------------------------------------------------
# verl: multi-turn interaction
# ---------------------------------------------------------------------------------------------

try:  # subclass verl's base when it is installed; the example runs without it
    from verl.interactions.base import BaseInteraction  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - verl is optional
    BaseInteraction = object  # type: ignore[misc,assignment]


class MedgymInteraction(BaseInteraction):  # type: ignore[misc,valid-type]
    """verl ``BaseInteraction``: each instance is one medgym session; the assistant's last message
    is the action, the observation text is the user's reply. Config: ``{"address": ...}``;
    per-sample ``interaction_kwargs`` may carry ``seed``, ``task_id``, ``domain``, ``split``."""

    def __init__(self, config: dict[str, Any]) -> None:
        if BaseInteraction is not object:
            super().__init__(config)
        self.config = config
        self.client = AsyncClient(config.get("address", "127.0.0.1:50051"))
        self.sessions: dict[str, tuple[AsyncSession, list[float]]] = {}

    async def start_interaction(self, instance_id: str | None = None, **kwargs: Any) -> str:
        instance_id = instance_id or f"medgym-{len(self.sessions)}"
        allowed = {k: kwargs[k] for k in ("seed", "task_id", "domain", "split", "max_turns") if k in kwargs}
        session = await self.client.new_session(**allowed)
        self.sessions[instance_id] = (session, [])
        return instance_id

    def first_observation(self, instance_id: str) -> str:
        return self.sessions[instance_id][0].observation["text"]

    async def generate_response(
        self, instance_id: str, messages: Messages, **kwargs: Any
    ) -> tuple[bool, str, float, dict]:
        session, rewards = self.sessions[instance_id]
        action = next(m["content"] for m in reversed(messages) if m["role"] == "assistant")
        obs, reward, terminated, truncated, info = await session.step(action)
        rewards.append(reward)
        return terminated or truncated, obs["text"], reward, {"info": info}

    async def calculate_score(self, instance_id: str, **kwargs: Any) -> float:
        return float(sum(self.sessions[instance_id][1]))

    async def finalize_interaction(self, instance_id: str, **kwargs: Any) -> None:
        session, _ = self.sessions.pop(instance_id)
        await session.close()


def _openai_tools(spec: Any) -> list[dict[str, Any]]:
    from medgym.env import openai_tools

    return openai_tools(spec)


# ---------------------------------------------------------------------------------------------
# Demo
# ---------------------------------------------------------------------------------------------


async def demo(address: str, groups: int, group_size: int, base_seed: int) -> dict[str, Any]:
    async with AsyncClient(address) as client:
        spec = await client.get_spec()
        tools = _openai_tools(spec)
        exams = [e.id for e in spec.exams]
        seeds = [base_seed + g for g in range(groups)]
        results = await asyncio.gather(
            *(
                rollout_group(client, s, group_size, lambda seed, i: ToyPolicy(exams, seed=1000 * seed + i), tools)
                for s in seeds
            )
        )
    report = {}
    for seed, group in zip(seeds, results):
        rewards = [r.total_reward for r in group]
        adv = group_advantages(rewards)
        tasks = {r.info["task_id"] for r in group}
        assert len(tasks) == 1, "a group shares one seed, hence one patient"
        print(f"seed {seed} · task {tasks.pop()} · truth {group[0].info['truth']['name']}")
        for i, (r, a) in enumerate(zip(group, adv)):
            print(f"  member {i}: {len(r.completions)} turns, return {r.total_reward:+.3f}, advantage {a:+.2f}")
        report[seed] = {"rewards": rewards, "advantages": adv.tolist()}
    return report


async def demo_verl(address: str, seed: int) -> float:
    interaction = MedgymInteraction({"address": address})
    policy = ToyPolicy(["cbc", "ecg", "chest_xray"], seed=seed)
    iid = await interaction.start_interaction(seed=seed)
    messages: Messages = [{"role": "user", "content": interaction.first_observation(iid)}]
    done = False
    while not done:
        messages.append({"role": "assistant", "content": policy(messages)})
        done, reply, score, extra = await interaction.generate_response(iid, messages)
        messages.append({"role": "user", "content": reply})
    total = await interaction.calculate_score(iid)
    await interaction.finalize_interaction(iid)
    await interaction.client.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    asyncio.run(demo(args.address, args.groups, args.group_size, args.seed))

    spec_exams = ["cbc", "ecg", "chest_xray", "troponin"]
    rollout_func = make_trl_rollout_func(args.address, lambda seed, i: ToyPolicy(spec_exams, seed=1000 * seed + i))
    prompts = [f"medgym seed={args.seed + g}" for g in range(args.groups) for _ in range(args.group_size)]
    out = rollout_func(prompts)
    rewards = env_reward_func([None] * len(prompts), **{"env_reward": out["env_reward"]})
    print(
        f"TRL rollout_func: {len(out['completion_ids'])} completions, keys {sorted(out)}, rewards {[round(r, 3) for r in rewards]}"
    )

    total = asyncio.run(demo_verl(args.address, args.seed))
    print(f"verl interaction: episode score {total:+.3f}")


if __name__ == "__main__":
    main()
