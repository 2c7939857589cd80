"""Prints what the demo produced: the unit folder, the run report and a glimpse of the
soundscape table."""
import json
import sys
from pathlib import Path

import pandas as pd

unit = Path(sys.argv[1])
print(f"\nunit folder {unit}:")
for f in sorted(unit.iterdir()):
    print(f"  {f.name:36s} {f.stat().st_size:>10,d} bytes")
report = json.loads((unit / "run_report.json").read_text())
print(f"\nrun report ({unit / 'run_report.json'}): {report['summary']}")
for r in report["recordings"]:
    print(f"  {r['status']:8s} {r['id']}  {r.get('reason') or ''}")
df = pd.read_parquet(unit / "hashed_soundscape.parquet")
print(f"\n{unit / 'hashed_soundscape.parquet'}: {len(df)} rows x {len(df.columns)} columns")
pd.set_option("display.width", 160)
cols = ["id", "start_time", "min_freq", "TOTAL", "CORE", "TAIL", "EXAG", "INFORMATION", "ICOMPLEXITY", "crono_hash_30m"]
print(df[cols].head(8).to_string())
print("\nmean index per recording:")
print(df.groupby("id")[["TOTAL", "CORE", "TAIL", "INFORMATION"]].mean().round(3).to_string())
