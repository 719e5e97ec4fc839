#!/usr/bin/env python3
"""The PyTorch + transformers + PEFT peer of `npm run bench -- sft`: the same LoRA SFT step on CUDA.

It replays the cases our suite prints (`node dist/bench.mjs sft ... --print-cases`): the same HF config.json
dict (layers and shape overrides applied; the one source is bench/shapes.ts HF_CONFIGS), LoRA rank, alpha and
targets with lora_dropout=0, sequence length and sequences per adapter (one sequence per row, no padding, random
ids, labels = ids), AdamW after clipping the global gradient norm (as HF Trainer does), one warm-up step, then
timed steps ended by torch.cuda.synchronize(). Weights: a random-init model in bf16 (values do not matter for
speed). Defaults follow what HF Trainer(bf16=True) runs: autocast to bf16 around the forward (PEFT keeps the
adapter weights in f32), SDPA attention, no gradient checkpointing unless the case has recompute on.

K > 1 adapters: K PEFT adapters on one model, trained one after another (set_adapter, forward, backward, step),
each on its own batch. That is how PEFT trains several adapters: its mixed-adapter batches (`adapter_names=`)
are inference-only (PeftModel raises "Cannot pass `adapter_names` when the model is in training mode."); the
script checks this on the installed version and reports what it said.

Usage:  python3 bench/peers/peft_sft.py --cases CASES.json [--layers N] [--steps N] [--no-autocast] [--out FILE]
Output: JSON with tokens/s, step times and torch.cuda.max_memory_allocated / max_memory_reserved per case.
"""
import argparse
import gc
import json
import math
import statistics
import sys
import time

import torch
import transformers
import peft
from peft import LoraConfig, get_peft_model

ARCHITECTURES = {
    "LlamaForCausalLM": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
    "Qwen2ForCausalLM": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
}


def build_base_model(hf_config: dict, recompute: bool):
    """A random-init bf16 model on the GPU from a config.json dict."""
    config_cls, model_cls = ARCHITECTURES[hf_config["architectures"][0]]
    config = config_cls.from_dict({**hf_config, "attn_implementation": "sdpa"})
    config.use_cache = False
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # build in bf16 directly: no f32 copy of a 7B model
    try:
        with torch.device("cuda"):
            model = model_cls(config)
    finally:
        torch.set_default_dtype(default_dtype)
    if recompute:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


def random_batch(count: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randint(0, vocab, (count, length), generator=g).cuda()


def adapter_params(model, name: str):
    """The lora_A / lora_B weights of adapter `name` (PEFT names them ...lora_A.<name>.weight)."""
    return [p for n, p in model.named_parameters() if ".lora_" in n and n.endswith(f".{name}.weight")]


def mixed_batch_training(model, ids: torch.Tensor) -> dict:
    """Does this PEFT train a batch whose rows use different adapters (adapter_names=) in one pass?"""
    names = [f"a{i % 2}" for i in range(ids.shape[0])]
    try:
        with torch.no_grad():
            model(input_ids=ids[:, :8], adapter_names=names)
        return {"supported": True, "message": "adapter_names accepted in training mode"}
    except (ValueError, TypeError) as e:
        return {"supported": False, "message": str(e)}


def run_case(base, case: dict, args):
    """Times one case on `base`; returns its result and the base model again, LoRA layers removed."""
    hf, lora = case["hfConfig"], case["lora"]
    K, S, B = case["adapters"], case["seqLen"], case["sequencesPerAdapter"]
    steps = args.steps or case["steps"]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], target_modules=list(lora["targets"]),
                        lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    names = [f"a{k}" for k in range(K)]
    model = get_peft_model(base, config, adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, config)
    params, optimizers = {}, {}
    for name in names:
        params[name] = adapter_params(model, name)
        with torch.no_grad():
            # B random-small (as ours: U(±1/sqrt(r))), so every gradient is non-trivial; A keeps PEFT's init.
            for n, p in model.named_parameters():
                if ".lora_B." in n and n.endswith(f".{name}.weight"):
                    torch.nn.init.uniform_(p, -1 / math.sqrt(lora["rank"]), 1 / math.sqrt(lora["rank"]))
            # Every adapter in the dtype PEFT gave the first (f32 over a bf16 base: autocast_adapter_dtype).
            for p in params[name]:
                p.data = p.data.to(params[names[0]][0].dtype)
        optimizers[name] = torch.optim.AdamW(params[name], lr=case["learningRate"], fused=True)
    batches = {name: random_batch(B, S, hf["vocab_size"], k) for k, name in enumerate(names)}

    def train(name: str) -> torch.Tensor:
        model.set_adapter(name)
        for other in names:  # only the active adapter trains (set_adapter does this too; be explicit)
            for p in params[other]:
                p.requires_grad_(other == name)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=not args.no_autocast):
            loss = model(input_ids=batches[name], labels=batches[name]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params[name], case["maxGradNorm"])
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        return loss.detach()

    def step() -> float:
        losses = [train(name) for name in names]
        torch.cuda.synchronize()
        return losses[0].item()

    first = step()  # warm-up
    step_ms, last = [], first
    t0 = time.perf_counter()
    while len(step_ms) < steps and (not step_ms or time.perf_counter() - t0 < args.max_seconds):
        t = time.perf_counter()
        last = step()
        step_ms.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median_high(step_ms)
    tokens = K * B * S
    result = {
        "model": case["model"], "adapters": K, "seqLen": S, "sequencesPerAdapter": B,
        "layers": hf["num_hidden_layers"], "recompute": case["recompute"],
        "mode": "single" if K == 1 else "sequential",
        "tokensPerStep": tokens, "stepMs": step_ms, "msPerStep": ms, "tokensPerSecond": tokens / ms * 1e3,
        "maxMemoryAllocated": torch.cuda.max_memory_allocated(), "maxMemoryReserved": torch.cuda.max_memory_reserved(),
        "loss": {"first": first, "last": last},
        "adapterDtype": str(params[names[0]][0].dtype),
        "attnImplementation": getattr(base.config, "_attn_implementation", None),  # sdpa: flash on H100
    }
    if K > 1:
        result["mixedAdapterBatchTraining"] = mixed_batch_training(model, batches[names[0]])
    del optimizers, params, batches
    base = model.unload()  # the same base model with its LoRA layers taken out again, for the next case
    if hasattr(base, "peft_config"):
        del base.peft_config
    del model
    gc.collect()
    torch.cuda.empty_cache()
    return result, base


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True, help="JSON from `bench.mjs sft --print-cases` (or our sft report)")
    ap.add_argument("--layers", type=int, help="decoder layers to build (overrides the cases')")
    ap.add_argument("--steps", type=int, help="timed steps per case (overrides the cases')")
    ap.add_argument("--max-seconds", type=float, default=120, help="stop timing a case after this long (>= 1 step)")
    ap.add_argument("--no-autocast", action="store_true", help="no bf16 autocast (LoRA products then run in f32)")
    ap.add_argument("--out", help="write the JSON here (default: stdout only)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("peft_sft: no CUDA device", file=sys.stderr)
        return 1
    with open(args.cases) as f:
        doc = json.load(f)
    cases = doc.get("cases") or doc.get("results") or []
    if args.layers:
        cases = [{**c, "hfConfig": {**c["hfConfig"], "num_hidden_layers": args.layers}} for c in cases]
    report = {
        "peer": "pytorch+transformers+peft", "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "device": torch.cuda.get_device_name(), "autocastBf16": not args.no_autocast,
        "timing": "wall clock, torch.cuda.synchronize() after every step", "results": [],
    }
    base, built_for, done = None, None, set()
    for case in cases:
        # Our fused and sequential K-adapter cases are one PEFT case: PEFT trains adapters one after another.
        same = (case["model"], case["adapters"], case["seqLen"], case["sequencesPerAdapter"], case["recompute"])
        if same in done:
            continue
        done.add(same)
        key = json.dumps([case["hfConfig"], case["recompute"]], sort_keys=True)
        if key != built_for:
            base = None
            gc.collect()
            torch.cuda.empty_cache()
            t = time.perf_counter()
            base = build_base_model(case["hfConfig"], case["recompute"])
            built_for = key
            print(f"{case['model']}: {case['hfConfig']['num_hidden_layers']} layers built in {time.perf_counter() - t:.1f} s", flush=True)
        r, base = run_case(base, case, args)
        report["results"].append(r)
        mode = " sequential" if r["mode"] == "sequential" else ""
        print(f"  K={r['adapters']}{mode}: {r['tokensPerStep']} tokens/step, {r['msPerStep']:.1f} ms/step "
              f"(median of {len(r['stepMs'])}), {r['tokensPerSecond']:.1f} tok/s, "
              f"peak {r['maxMemoryAllocated'] / 2**30:.2f} GiB allocated / {r['maxMemoryReserved'] / 2**30:.2f} GiB reserved, "
              f"loss {r['loss']['first']:.3f} -> {r['loss']['last']:.3f}", flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
