"""A scripted baseline policy playing medgym episodes through gymnasium.

    python examples/scripted_policy.py --address 127.0.0.1:50051 --episodes 5

The policy reads the presenting complaint, asks a few questions, orders the exams its keyword
table suggests (only those in the server's catalog), and diagnoses with a ranked differential.
It shows the three action forms: structured dicts, raw model text, and OpenAI tool calls.
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import medgym

# complaint keyword -> (exams to order, candidate diagnoses most likely first)
RULES: list[tuple[tuple[str, ...], list[str], list[str]]] = [
    (("chest",), ["ecg", "troponin"], ["acute myocardial infarction", "pulmonary embolism"]),
    (("breath", "cough"), ["chest_xray", "d_dimer"], ["community-acquired pneumonia", "pulmonary embolism"]),
    (("stomach", "belly", "abdomen"), ["abdominal_exam", "cbc"], ["acute appendicitis", "diabetic ketoacidosis"]),
    (("head",), ["neurological_exam", "ct_head"], ["migraine", "bacterial meningitis"]),
    (("side", "urine"), ["urinalysis", "urine_culture"], ["acute pyelonephritis"]),
    (("hands", "joints", "stiff"), ["joint_exam", "rheumatoid_panel"], ["rheumatoid arthritis"]),
    (("tired", "exhausted"), ["cbc", "phq9"], ["iron deficiency anemia", "major depressive disorder"]),
    (("red", "swollen", "skin"), ["skin_exam", "cbc"], ["cellulitis"]),
]
QUESTIONS = ["Do you have a fever?", "When did this start?", "Is the pain constant or does it come and go?"]


class ScriptedPolicy:
    """Ask, examine, diagnose: one plan per episode, made from the first observation."""

    def __init__(self, exam_catalog: set[str]) -> None:
        self.catalog = exam_catalog
        self.plan: list[object] = []

    def start(self, first_observation: str) -> None:
        text = first_observation.lower()
        exams: list[str] = []
        candidates: list[str] = []
        for keywords, rule_exams, diagnoses in RULES:
            if any(k in text for k in keywords):
                exams += [e for e in rule_exams if e in self.catalog and e not in exams]
                candidates += [d for d in diagnoses if d not in candidates]
        candidates = candidates or ["community-acquired pneumonia"]
        p = 1.0 / (len(candidates) + 1)
        self.plan = [
            {"ask": QUESTIONS[0]},  # a structured dict
            f"<ask>{QUESTIONS[1]}</ask>",  # raw model text with a tag
            {"name": "ask_patient", "arguments": {"question": QUESTIONS[2]}},  # an OpenAI tool call
            *({"exam": e} for e in exams[:3]),
            {
                "diagnose": {
                    "primary": candidates[0],
                    "differential": [
                        {"name": d, "probability": 2 * p if i == 0 else p} for i, d in enumerate(candidates[:3])
                    ],
                }
            },
        ]

    def act(self, observation: dict) -> object:
        return self.plan.pop(0)


def run(address: str, episodes: int, seed: int, verbose: bool = True) -> list[dict]:
    env = gym.make(medgym.ENV_ID, address=address)
    policy = ScriptedPolicy({e.id for e in env.unwrapped.server_spec.exams})
    summaries = []
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            policy.start(obs["text"])
            if verbose:
                print(f"\n== episode {episode} (task {info['task_id']}, seed {info['seed']})\n{obs['text']}")
            total = 0.0
            while True:
                action = policy.act(obs)
                obs, reward, terminated, truncated, info = env.step(action)
                total += reward
                if verbose:
                    flag = "" if info["feedback"]["valid"] else "  [invalid]"
                    print(f"  > {action}\n    {obs['text']}  (reward {reward:+.3f}){flag}")
                if terminated or truncated:
                    break
            summary = {
                "task_id": info["task_id"],
                "truth": info["truth"]["name"],
                "correct": info["truth"]["correct"],
                "return": total,
                "turns": info["totals"]["turns"],
                "cost_usd": info["totals"]["cost_usd"],
            }
            summaries.append(summary)
            if verbose:
                print(f"  truth: {summary['truth']} · correct: {summary['correct']} · return {total:+.3f}")
    finally:
        env.close()
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summaries = run(args.address, args.episodes, args.seed)
    accuracy = sum(s["correct"] for s in summaries) / len(summaries)
    mean_return = sum(s["return"] for s in summaries) / len(summaries)
    print(f"\n{len(summaries)} episodes: accuracy {accuracy:.2f}, mean return {mean_return:+.3f}")


if __name__ == "__main__":
    main()
