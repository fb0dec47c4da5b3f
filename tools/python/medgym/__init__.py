"""medgym: a gymnasium client of the medgym environment server (simulated patients over gRPC).

Importing the package registers ``medgym/Diagnosis-v0``::

    import gymnasium as gym, medgym
    env = gym.make("medgym/Diagnosis-v0", address="127.0.0.1:50051")
    obs, info = env.reset(seed=3)
    obs, reward, terminated, truncated, info = env.step({"ask": "Do you have a fever?"})

``gym.make_vec("medgym/Diagnosis-v0", num_envs=N, address=...)`` gives :class:`MedgymVectorEnv`
(many sessions per BatchStep message, next-step autoreset); :class:`medgym.aio.AsyncClient`
multiplexes sessions over one Interact stream.
"""

from __future__ import annotations

import gymnasium

from medgym._proto import pb
from medgym.actions import to_action
from medgym.client import Client, episode_options
from medgym.env import MedgymEnv
from medgym.errors import (
    CapacityExceeded,
    EpisodeOver,
    InvalidRequest,
    MedgymError,
    MedgymTimeout,
    MedgymUnavailable,
    SessionNotFound,
    Unauthenticated,
)
from medgym.vector import MedgymVectorEnv

__version__ = "0.1.0"

ENV_ID = "medgym/Diagnosis-v0"

__all__ = [
    "ENV_ID",
    "CapacityExceeded",
    "Client",
    "EpisodeOver",
    "InvalidRequest",
    "MedgymEnv",
    "MedgymError",
    "MedgymTimeout",
    "MedgymUnavailable",
    "MedgymVectorEnv",
    "SessionNotFound",
    "Unauthenticated",
    "episode_options",
    "pb",
    "to_action",
]


def _register() -> None:
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="medgym.env:MedgymEnv",
        vector_entry_point="medgym.vector:MedgymVectorEnv",
        nondeterministic=False,
    )


_register()
