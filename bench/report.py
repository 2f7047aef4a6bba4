#!/usr/bin/env python3
"""Prints bench/run's results (JSONL files, e.g. one per shape) as a Markdown table, with FLOPs.

FLOPs per optimizer step (T = batch*seq tokens, L layers, d width, S seq; a linear layer
in->out costs 2*T*in*out per product; elementwise ops, norms, softmax, embeddings and AdamW are
not counted):

  forward   F = sum over linear layers (head included) 2*T*in*out
              + attention 4*L*batch*S^2*d  (Q K^T and A V over the full S x S square)
              + LoRA 2*T*r*(in+out) per adapted layer
  backward  input gradients of every linear layer: sum 2*T*in*out
              + weight gradients of trainable linear layers only (full: all; LoRA: none)
              + attention 8*L*batch*S^2*d + LoRA 4*T*r*(in+out) per adapted layer
  so full fine-tuning = 6*T*P_linear + 12*L*batch*S^2*d, LoRA ~ 4*T*P_linear + the same
  attention + 6*T*r*(in+out) per adapter, inference = the forward alone.
  Prompt and prefix tuning (P = 20 virtual tokens): 4*T*P_linear, no weight gradients, and
  attention over S + P keys, 12*L*batch*S*(S+P)*d; prompt tuning's own pass over the P virtual
  tokens is not counted (Graft runs it once per step, PEFT once per row).
"""

import json
import sys


def linears(c):
    """(name, in, out) of every linear layer per layer, and the head."""
    if c["architectures"][0] == "GPT2LMHeadModel":
        d = c.get("n_embd", 768)
        inner = c.get("n_inner") or 4 * d
        layer = [("c_attn", d, 3 * d), ("c_proj", d, d), ("c_fc", d, inner), ("mlp.c_proj", inner, d)]
        n, vocab, heads = c.get("n_layer", 12), c.get("vocab_size", 50257), c.get("n_head", 12)
        qv = ["c_attn"]
    else:
        d, inter = c["hidden_size"], c["intermediate_size"]
        heads = c["num_attention_heads"]
        hd = d // heads
        kv = c.get("num_key_value_heads", heads) * hd
        layer = [("q_proj", d, heads * hd), ("k_proj", d, kv), ("v_proj", d, kv),
                 ("o_proj", heads * hd, d), ("gate_proj", d, inter), ("up_proj", d, inter),
                 ("down_proj", inter, d)]
        n, vocab = c["num_hidden_layers"], c["vocab_size"]
        qv = ["q_proj", "v_proj"]
    return d, n, layer, ("lm_head", d, vocab), qv


def flops(c, workload, batch, seq, r=8, virtual=20):
    d, n, layer, head, qv = linears(c)
    t = batch * seq
    lin = n * sum(2 * t * i * o for _, i, o in layer) + 2 * t * head[1] * head[2]
    att = 4 * n * batch * seq * seq * d
    if workload == "infer":
        return lin + att
    if workload == "full":
        return 3 * lin + 3 * att
    if workload == "adalora":
        r = 12  # init_r: pruning zeroes E entries, the matrices keep their size
    if workload == "adapter":
        # two d x d/16 bottlenecks per block, forward + both backward products
        return 2 * lin + 3 * att + 3 * n * 2 * (2 * t * d * (d // 16) * 2)
    if workload == "bitfit":
        return 2 * lin + 3 * att  # bias gradients are sums, no weight products
    if workload in ("prompt-tuning", "prefix-tuning"):
        return 2 * lin + 3 * att * (seq + virtual) / seq
    if workload == "lora-dpo":  # lora-qv's step plus the reference forward
        return flops(c, "lora-qv", batch, seq, r) + lin + att
    adapted = [(i, o) for name, i, o in layer if workload in ("lora-all", "qlora", "qlora-prequantised") or name in qv]
    lora = n * sum(2 * t * r * (i + o) for i, o in adapted)
    # DoRA adds the detached row norm per step: W·Aᵀ and the (B·A·Aᵀ)⊙B terms, out·r·(in + r).
    norm = n * sum(2 * o * r * (i + r) for i, o in adapted) if workload.startswith("dora") else 0
    return 2 * lin + 3 * att + 3 * lora + norm


def gib(b):
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


NAMES = {
    "lora-qv": "LoRA r=8, q,v",
    "lora-all": "LoRA r=8, all-linear",
    "adalora": "AdaLoRA init_r=12→8, q,v",
    "prompt-tuning": "prompt tuning, 20 virtual tokens",
    "prefix-tuning": "prefix tuning, 20 virtual tokens",
    "dora": "DoRA r=8, q,v",
    "dora-expanded": "DoRA r=8, q,v, expanded norm",
    "qlora": "QLoRA: LoRA r=8 all-linear on NF4 (PyTorch: fp32 weights)",
    "qlora-prequantised": "QLoRA on the graft:quantize folder (PyTorch: fp32 weights)",
    "full": "full fine-tuning",
    "adapter": "adapter (houlsby, d/16)",
    "bitfit": "BitFit (all biases)",
    "delta-lora-qv": "Delta-LoRA r=8, q,v (K=0, λ=2)",
    "moelora-qv": "MoELoRA 4 experts, r=8, q,v",
    "lora-drop-qv": "LoRA-drop r=8, q,v",
    "lora-dpo": "LoRA r=8, q,v + DPO (rows = 2 × pairs)",
    "infer": "inference (forward)",
}


def main():
    rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
    gemm = {}
    for r in rows:  # the best of the measurements before and after the rows
        if r.get("kind") == "gemm" and "gflops" in r:
            if r["gflops"] > gemm.get(r["framework"], {}).get("gflops", 0):
                gemm[r["framework"]] = r
    blas = gemm.get("pytorch", {})
    libs = [l.rsplit("/", 1)[-1] for l in blas.get("blas_libraries", [])]
    graft_dev = next((r["device"] for r in rows if r.get("framework") == "graft" and "device" in r), "")
    print(f"Graft: {graft_dev}. PyTorch {blas.get('torch', '?')} (Debian python3-torch, "
          f"BLAS_INFO={blas.get('blas_info', '?')}, BLAS at run time: {', '.join(libs) or '?'}), "
          f"{blas.get('threads', '?')} threads. fp32, AdamW, random init.")
    print(f"GEMM ceiling (fp32 2048^3 MatMul, best before/after the rows): ORT/MLAS "
          f"{gemm.get('graft', {}).get('gflops', float('nan')):.0f} GFLOP/s, "
          f"torch/OpenBLAS {blas.get('gflops', float('nan')):.0f} GFLOP/s.")
    print()
    print("| workload | shape | Graft tok/s | PyTorch tok/s | Graft/PyTorch (best steps) "
          "| Graft RSS after setup | Graft peak RSS | PyTorch peak RSS | weights | trainable "
          "| GFLOP/step | Graft GFLOP/s | PyTorch GFLOP/s |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    keyed = {}
    for r in rows:
        if r.get("kind") == "row":
            keyed.setdefault((r["shape"], r.get("workload")), {})[r.get("framework", "?")] = r
    cg = gemm.get("graft", {}).get("gflops")
    ct = blas.get("gflops")
    for (shape, workload), pair in keyed.items():
        g, p = pair.get("graft", {}), pair.get("pytorch", {})
        any_ = g or p
        model = any_["model"]
        c = json.load(open(f"{model}/config.json"))
        batch, seq = any_.get("batch", 4), any_.get("seq", 256)
        f = flops(c, workload, batch, seq)
        desc = (f"{'GPT-2' if shape == 'gpt2' else 'Llama'} {any_['layers']}L "
                f"b{batch}×s{seq}")
        gt, pt = g.get("tokens_per_s"), p.get("tokens_per_s")

        def rate(tps, ceil):
            if not tps:
                return "—"
            v = f * tps / (batch * seq) / 1e9
            return f"{v:.0f}" + (f" ({100 * v / ceil:.0f}%)" if ceil else "")

        name = NAMES.get(workload, workload)
        if workload == "lora-qv" and shape == "gpt2":
            name += " (c_attn)"
        print(
            f"| {name} | {desc} | {gt:.0f} | " if gt else f"| {name} | {desc} | — | ", end="")
        print(f"{pt:.0f} | " if pt else "— | ", end="")
        if gt and pt:
            best = min(p["step_s"]) / min(g["step_s"])
            print(f"{gt / pt:.2f} ({best:.2f}) | ", end="")
        else:
            print("— | ", end="")
        setup_rss = g.get("peak_rss_after_setup_bytes")
        print(f"{gib(setup_rss)} | " if setup_rss else "— | ", end="")
        print(f"{gib(g['peak_rss_bytes'])} | " if g else "— | ", end="")
        print(f"{gib(p['peak_rss_bytes'])} | " if p else "— | ", end="")
        wb = g.get("weights_bytes") or p.get("weights_bytes")
        print(f"{gib(wb)} | " if wb else "— | ", end="")
        tr = p.get("trainable_params")
        print(f"{tr / 1e6:.2f} M | " if tr is not None else "— | ", end="")
        print(f"{f / 1e9:.0f} | {rate(gt, cg)} | {rate(pt, ct)} |")
    print()
    print("Timed steps (s); Graft's setup (model load, graph, ONNX, session) and its peak RSS")
    print("when the session is open, before the first step:")
    print()
    for (shape, workload), pair in keyed.items():
        g, p = pair.get("graft", {}), pair.get("pytorch", {})
        setup_rss = g.get("peak_rss_after_setup_bytes")
        print(f"* {shape} {workload}: Graft {g.get('step_s')}, setup {g.get('setup_s')} s"
              + (f", {gib(setup_rss)} after setup" if setup_rss else "")
              + f"; PyTorch {p.get('step_s')}")


if __name__ == "__main__":
    main()
