"""The Text spaces (no server)."""

from __future__ import annotations

import copy
import pickle
import time

import gymnasium as gym
from gymnasium.vector.utils import batch_space

from medgym.spaces import UnicodeText, action_space, observation_space, text_charset


def test_charset_covers_server_text():
    charset = text_charset()
    for text in [
        "Hemoglobin 13.5 g/dL",
        "µmol/L ≥ 5 °C – “quoted”",
        "line\nbreak\ttab",
        "emoji 🩺",
        "soft\u00adhyphen",
    ]:
        assert set(text) <= charset
    assert "\x00" not in charset and "\ud800" not in charset


def test_unicode_text_is_a_gymnasium_text():
    space = UnicodeText(10)
    assert isinstance(space, gym.spaces.Text)
    assert "" in space and "Ω µ\n" in space and "x" * 11 not in space and "\x00" not in space
    space.seed(1)
    sample = space.sample()
    assert sample in space
    assert space == UnicodeText(10) and space != UnicodeText(11)
    assert len(repr(space)) < 100


def test_copies_are_cheap_and_equal():
    obs = observation_space()
    t = time.perf_counter()
    batched = batch_space(obs, 64)
    copies = [copy.deepcopy(obs) for _ in range(16)]
    assert time.perf_counter() - t < 2.0
    assert all(c == obs for c in copies)
    assert isinstance(batched["text"], gym.spaces.Tuple) and len(batched["text"]) == 64
    assert pickle.loads(pickle.dumps(obs)) == obs


def test_action_samples_fit_the_byte_limit():
    space = action_space(400)
    space.seed(0)
    for _ in range(5):
        assert len(space.sample().encode("utf-8")) <= 400
