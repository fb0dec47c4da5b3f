#!/usr/bin/env python3
"""Quick consistency check of the authored common-disease table (stdlib only).

Run: python3 tools/knowledge/authored/check_authored.py
Checks that references resolve, laboratory values lie outside the reference range in the
finding's direction, and that every pair of diseases in a domain differs in at least 3
findings with frequency >= 0.3 (a finding "differs" when it is >= 0.3 in one disease and
absent from the other, or when its two frequencies differ by >= 0.3). Exit status 1 on failure.
"""
import itertools, json, os, sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
load = lambda n: json.load(open(os.path.join(HERE, n), encoding="utf-8"))
findings, exams, diseases = load("findings.json"), load("exams.json"), load("diseases.json")
F = {f["id"]: f for f in findings}
E = {e["id"]: e for e in exams}
problems = []

for f in findings:
    for x in f.get("exams", []):
        if x not in E:
            problems.append(f"finding {f['id']}: unknown exam {x}")
        elif f.get("analyte") and not any(a["id"] == f["analyte"] for a in E[x].get("analytes", [])):
            problems.append(f"finding {f['id']}: exam {x} lacks analyte {f['analyte']}")

def ranges(analyte):
    for e in exams:
        for a in e.get("analytes", []):
            if a["id"] == analyte:
                return [a["range"]] + ([a["female"]] if "female" in a else [])
    return []

for d in diseases:
    for df in d["findings"]:
        f = F.get(df["finding"])
        if f is None:
            problems.append(f"disease {d['id']}: unknown finding {df['finding']}")
            continue
        if f["kind"] == "laboratory" and f.get("analyte"):
            v = df.get("value")
            if not v:
                problems.append(f"disease {d['id']}: {f['id']} has no value range")
                continue
            rs = ranges(f["analyte"])
            above = all(v["low"] > r["high"] for r in rs)
            below = all(v["high"] < r["low"] for r in rs)
            if not (above or below):
                problems.append(f"disease {d['id']}: {f['id']} value {v} overlaps the reference range")

by_domain = defaultdict(list)
for d in diseases:
    by_domain[d["domain"]].append(d)
weakest = []
for dom, ds in sorted(by_domain.items()):
    for a, b in itertools.combinations(ds, 2):
        fa = {x["finding"]: x["frequency"] for x in a["findings"]}
        fb = {x["finding"]: x["frequency"] for x in b["findings"]}
        n = 0
        for k in set(fa) | set(fb):
            pa, pb = fa.get(k, 0.0), fb.get(k, 0.0)
            if max(pa, pb) >= 0.3 and (min(pa, pb) == 0.0 or abs(pa - pb) >= 0.3):
                n += 1
        weakest.append((n, dom, a["id"], b["id"]))
        if n < 3:
            problems.append(f"{dom}: {a['id']} and {b['id']} differ in only {n} findings")

weakest.sort()
print(f"{len(diseases)} diseases, {len(findings)} findings, {len(exams)} exams")
for dom, ds in sorted(by_domain.items()):
    print(f"  {dom}: {len(ds)}")
print("closest pairs:", ", ".join(f"{a}/{b} ({n})" for n, _, a, b in weakest[:8]))
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("ok")
