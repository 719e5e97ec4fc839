#!/usr/bin/env python3
"""Joins our `sft` report and the PEFT peer's into one JSON with our/PEFT ratios, and prints a table.

Per (model, K, mode, precision) of ours against PEFT's (model, K): tokens/s ratio (ours / PEFT), both achieved TFLOP/s (the same FLOP count, bench/sft-flops.ts,
over each one's step time), peak memory ratios (our buffer pool's high-water mark, which like PyTorch's caching
allocator keeps freed buffers, over torch's max_memory_reserved and max_memory_allocated), and the issue-4
targets: ours >= 1.0x PEFT where our step's matmuls run on the subgroup-matrix path, >= 0.3x on the portable
path; a K = 8 step costs < 3x a K = 1 step. Standard library only.

Usage: python3 bench/peers/compare_sft.py --ours OURS.json --peft PEFT.json [--out FILE]
Either report may be missing or empty (a run that failed): the comparison then says so instead of a ratio.
"""
import argparse
import json
import sys

K_COST_TARGET = 3.0


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"{path}: {e}", "results": []}


def main_matmul_kernel(result):
    by_kernel = (result.get("matmuls") or {}).get("byKernel") or {}
    return max(by_kernel, key=by_kernel.get) if by_kernel else None


def ratio(a, b):
    return a / b if a is not None and b else None


def compare(ours, peft):
    """One row per our case (model, K, mode: single / fused / sequential, precision: f32 / mixed) against PEFT's (model, K)."""
    peft_by = {(r["model"], r["adapters"]): r for r in peft.get("results", [])}
    ours_by = {(r["model"], r["adapters"], r["mode"], r.get("precision", "f32")): r for r in ours.get("results", [])}
    keys = set(ours_by) | {(m, K, "single" if K == 1 else "-", "-") for (m, K) in peft_by if not any(k[:2] == (m, K) for k in ours_by)}
    rows = []
    for k in sorted(keys):
        o, p = ours_by.get(k), peft_by.get(k[:2])
        path = main_matmul_kernel(o) if o else None
        min_ratio = 1.0 if path == "subgroup-matrix" else 0.3
        tps = ratio(o and o["tokensPerSecond"], p and p["tokensPerSecond"])
        row = {
            "model": k[0], "adapters": k[1], "mode": k[2], "precision": k[3],
            "ours": o and {
                "mode": o["mode"], "tokensPerSecond": o["tokensPerSecond"], "msPerStep": o["msPerStep"],
                "tflops": o["tflops"], "peakGpuBytes": o["peakGpuBytes"], "matmulPath": path, "recompute": o["recompute"],
                "matmulFlopsRecordedOverFormula": o.get("matmulFlopsRecordedOverFormula"),
            },
            "peft": p and {
                "mode": p["mode"], "tokensPerSecond": p["tokensPerSecond"], "msPerStep": p["msPerStep"],
                "tflops": o["flopsPerStep"] / (p["msPerStep"] / 1e3) / 1e12 if o else None,
                "maxMemoryAllocated": p["maxMemoryAllocated"], "maxMemoryReserved": p["maxMemoryReserved"],
                "mixedAdapterBatchTraining": p.get("mixedAdapterBatchTraining"),
            },
            "ratios": {
                "tokensPerSecond": tps,
                "peakMemoryOverReserved": ratio(o and o["peakGpuBytes"], p and p["maxMemoryReserved"]),
                "peakMemoryOverAllocated": ratio(o and o["peakGpuBytes"], p and p["maxMemoryAllocated"]),
            },
            "target": {"path": path, "minTokensPerSecondRatio": min_ratio, "met": None if tps is None else tps >= min_ratio},
        }
        if o and p and (o["seqLen"], o["sequencesPerAdapter"], o["layers"]) != (p["seqLen"], p["sequencesPerAdapter"], p["layers"]):
            row["mismatch"] = "the two runs used different sequence lengths, batch sizes or layer counts"
        rows.append(row)
    k_cost = []
    sides = (("ours", ours_by), ("peft", {(m, K, r["mode"], "peft"): r for (m, K), r in peft_by.items()}))
    for model in sorted({r["model"] for r in rows}):
        for side, by in sides:
            for (m, K, _, precision), r in sorted(by.items()):
                one = by.get((model, 1, "single", precision))
                if m == model and K > 1 and one:
                    cost = r["msPerStep"] / one["msPerStep"]
                    k_cost.append({"model": model, "side": side, "adapters": K, "mode": r["mode"], "precision": precision,
                                   "costOverOneAdapter": cost, "target": K_COST_TARGET, "met": cost < K_COST_TARGET})
    return rows, k_cost


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peft", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    ours, peft = load(args.ours), load(args.peft)
    rows, k_cost = compare(ours, peft)
    print(f"{'model':<14} {'K':>2} {'ours tok/s':>11} {'PEFT tok/s':>11} {'ratio':>6} {'target':>7} "
          f"{'ours TFLOP/s':>12} {'PEFT TFLOP/s':>12} {'ours GiB':>9} {'PEFT GiB (alloc/resv)':>22}  ours path")
    for r in rows:
        o, p, q = r["ours"] or {}, r["peft"] or {}, r["ratios"]
        gib = lambda b: None if b is None else b / 2**30  # noqa: E731
        target = f">={r['target']['minTokensPerSecondRatio']}"
        peft_mem = f"{fmt(gib(p.get('maxMemoryAllocated')), '.2f')}/{fmt(gib(p.get('maxMemoryReserved')), '.2f')}"
        print(f"{r['model']:<14} {r['adapters']:>2} {fmt(o.get('tokensPerSecond'), '.1f'):>11} {fmt(p.get('tokensPerSecond'), '.1f'):>11} "
              f"{fmt(q['tokensPerSecond'], '.3f'):>6} {target:>7} {fmt(o.get('tflops'), '.2f'):>12} {fmt(p.get('tflops'), '.2f'):>12} "
              f"{fmt(gib(o.get('peakGpuBytes')), '.2f'):>9} {peft_mem:>22}  {o.get('matmulPath') or '-'}"
              f"{' (' + r['mode'] + ')' if r['adapters'] > 1 else ''} {r['precision']}")
    for c in k_cost:
        print(f"{c['model']} {c['side']}: K={c['adapters']} step = {c['costOverOneAdapter']:.2f}x K=1 ({c['mode']}, {c['precision']}; target < {c['target']:.0f}x)")
    report = {"ours": ours, "peft": peft, "comparisons": rows, "adapterCost": k_cost}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
