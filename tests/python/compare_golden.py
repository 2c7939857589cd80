"""Compare a hashed_soundscape.parquet with a golden one, with the tolerances of docs/fidelity.md.

Usage: python3 compare_golden.py OURS.parquet GOLDEN.parquet  (exit 1 on failure, prints a summary)
"""
import sys

import numpy as np
import pandas as pd

EXACT = ["id", "time_raw", "time_format", "time_zone", "time_utc", "node", "recorder", "deployment",
         "start_time", "end_time", "min_freq", "max_freq", "weight", "abs_start_time", "abs_end_time",
         "crono_hash_30m"]
TIGHT = {"TOTAL": 1e-4, "TAIL": 1e-4, "INFORMATION": 1e-5, "ICOMPLEXITY": 1e-5}
DECILE = {"CORE": 1e-2, "EXAG": 1e-2}


def compare(ours_path, golden_path):
    ours, gold = pd.read_parquet(ours_path), pd.read_parquet(golden_path)
    problems = []
    if list(ours.columns) != list(gold.columns):
        problems.append(f"columns differ: {list(ours.columns)} vs {list(gold.columns)}")
    if len(ours) != len(gold):
        return problems + [f"row count {len(ours)} vs {len(gold)}"]
    if not (ours.index.values == gold.index.values).all():
        problems.append("pandas index differs")
    for c in EXACT:
        a, b = ours[c], gold[c]
        if c.endswith("time_utc") or c.startswith("abs_"):
            a, b = a.dt.tz_convert(None), b.dt.tz_convert(None)
        a, b = a.to_numpy(), b.to_numpy()
        if not (a == b).all():
            problems.append(f"{c}: {(a != b).sum()} rows differ")
    if [list(x) for x in ours.proc_unit] != [list(x) for x in gold.proc_unit]:
        problems.append("proc_unit differs")
    report = {}
    for c, tol in {**TIGHT, **DECILE}.items():
        a, b = ours[c].to_numpy(), gold[c].to_numpy()
        nan_mismatch = int((np.isnan(a) != np.isnan(b)).sum())
        both = ~np.isnan(a) & ~np.isnan(b)
        d = np.abs(a[both] - b[both])
        bad = int((d > tol).sum()) + nan_mismatch
        report[c] = (float(d.max()) if d.size else 0.0, bad)
        if c in TIGHT and bad:
            problems.append(f"{c}: {bad} rows beyond {tol} (max {report[c][0]:.3g})")
        if c in DECILE and bad > 0.005 * len(a):
            problems.append(f"{c}: {bad} of {len(a)} rows beyond {tol} (more than 0.5 %)")
    for c, (mx, bad) in report.items():
        print(f"  {c:12s} max |diff| {mx:.3g}  rows beyond tolerance {bad}")
    return problems


if __name__ == "__main__":
    problems = compare(sys.argv[1], sys.argv[2])
    for p in problems:
        print("FAIL", p)
    sys.exit(1 if problems else 0)
