"""tilesim from Python, notebook style (run it, or paste the cells into a
notebook): compare three chips on one model, then sweep the batch size on
two DGX nodes and draw the essay's batch chart (arch/claims.md, "2.
Batching shares the weights until the KV cache dominates").

    python examples/python/compare_chips.py            # the real thing (minutes)
    python examples/python/compare_chips.py --quick    # one layer, three batch sizes (seconds; CI runs this)

Needs the tilesim wheel (python/README.md); pandas and matplotlib are used
when installed: without matplotlib the chart is skipped, saying so.
"""

import argparse
import os
import sys

import tilesim

# %% Options
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--quick", action="store_true", help="one layer of each model and three batch sizes")
ap.add_argument("--out", default=".", help="directory for batching.png and batching.csv")
args = ap.parse_args()
slice_ = {"layers": 1} if args.quick else {}
batches = [1, 8, 64] if args.quick else [1, 2, 4, 8, 16, 32, 64, 128]

# %% 1. Compare three chips: an HBM GPU, a 3D-DRAM mesh, an SRAM-only system
cmp = tilesim.compare("llama-2-7b", chips=["h100", "mesh-3ddram", "groq-576"], **slice_)
print(f"model {cmp['model']}\nworkload {cmp['workload']['description']}\n")
print(f"{'chip':<14} {'status':<13} {'chips':>5} {'floor s':>11} {'simulated s':>12} {'x floor':>8} {'tok/s':>10}")
for row in cmp["rows"]:
    if row["status"] != "ok":
        print(f"{row['chip']:<14} {row['status']:<13} {row['error'][:60]}")
        continue
    sim = row["simulated"]
    print(f"{row['chip']:<14} {'ok':<13} {row['chips_used']:>5} {row['floor']['seconds']:>11.3e} "
          f"{sim['seconds']:>12.3e} {sim['over_floor']:>8.2f} {sim['tokens_per_second']:>10.1f}")
assert all(r["status"] == "ok" for r in cmp["rows"]), "every chip of the comparison should run"

# %% 2. The batch sweep behind the essay's chart: tokens/s against batch on two DGX nodes
rows = tilesim.sweep("llama-2-70b", ["dgx-h100", "dgx-h200"], batch=batches, **slice_)
os.makedirs(args.out, exist_ok=True)
try:
    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(os.path.join(args.out, "batching.csv"), index=False)
    print("\n", df[["chip", "batch", "status", "seconds_per_token", "tokens_per_second"]].to_string(index=False))
except ImportError:
    print("\n(pandas is not installed: the rows are plain dicts)")
    for r in rows:
        print(f"{r['chip']:<10} batch {r['batch']:>4}  {r['status']:<6} tok/s {r['tokens_per_second']}")
assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"]
by_chip = {}
for r in rows:
    by_chip.setdefault(r["chip"], []).append((r["batch"], r["tokens_per_second"]))
for chip, points in by_chip.items():
    tps = [t for _, t in points]
    # Batching shares the weights: more users, more tokens per second.
    assert tps == sorted(tps), f"{chip}: tokens/s should grow with the batch, got {tps}"

# %% 3. The chart (matplotlib, when present)
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("\nmatplotlib is not installed: skipping the chart (pip install matplotlib)")
    sys.exit(0)
fig, ax = plt.subplots(figsize=(6, 4))
for chip, points in by_chip.items():
    ax.plot([b for b, _ in points], [t for _, t in points], marker="o", label=chip)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("batch (concurrent users)")
ax.set_ylabel("tokens/s (system)")
ax.set_title(f"{rows[0]['model']}: batching shares the weights")
ax.legend()
fig.tight_layout()
path = os.path.join(args.out, "batching.png")
fig.savefig(path, dpi=120)
print(f"\nchart -> {path}")
