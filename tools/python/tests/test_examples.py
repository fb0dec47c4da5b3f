"""The examples run against the real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_scripted_policy(address):
    out = run("scripted_policy.py", "--address", address, "--episodes", "3")
    assert "3 episodes: accuracy" in out
    assert "[invalid]" not in out


def test_grpo_rollout(address):
    out = run("grpo_rollout.py", "--address", address, "--groups", "2", "--group-size", "3")
    assert out.count("advantage") == 6
    assert "TRL rollout_func: 6 completions" in out
    assert "verl interaction: episode score" in out


def test_group_advantages_are_normalised():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from grpo_rollout import group_advantages
    finally:
        sys.path.remove(str(EXAMPLES))
    adv = group_advantages([1.0, 0.0, 0.5, 0.5])
    assert abs(adv.mean()) < 1e-9 and abs(adv.std() - 1.0) < 1e-3
    assert (group_advantages([0.3, 0.3, 0.3]) == 0).all()
