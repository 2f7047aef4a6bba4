#!/usr/bin/python3
"""Independent reference for AdaLoRA on stories260K (Llama), written from PEFT's equations.

Builds a PEFT ADALORA adapter on q_proj, v_proj and down_proj with init_r = 12 (A, B ~ N(0, 0.2²),
E ~ N(0, 0.3²)), prunes singular values with a rank_pattern of boolean masks as PEFT's RankAllocator
writes it (one layer keeps all 12, the others fewer), and slices the saved tensors to the kept ranks
as PEFT's save does (resize_state_dict_by_rank_pattern). The forward is PEFT's SVDLinear:
y = W x + (x (A*E)^T B^T) * lora_alpha / (ranknum + 1e-5), ranknum = init_r (kept through the
resize). It runs the Hugging Face Llama forward of tools/reference.py in float64 torch (token ids
from golden.json; the base forward is checked against golden.json) and writes the adapter and
expected.json (token ids, loss, logits of the last position).

Usage: tools/adalora_reference.py <stories260K folder> <output folder>
(the conformance fixture: method-bundles/conformance/src/test/resources/adalora-stories260K)
"""
import json
import os
import sys

import torch

from reference import check_golden, embed, llama, load, plain, write_safetensors

INIT_R = 12
ALPHA = 16.0
TARGETS = ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")
TEXT_CASE = "Once upon a time, there was a little girl named Lily."


def main(model_dir, out_dir):
    cfg, w = load(model_dir)
    golden = json.load(open(os.path.join(model_dir, "golden.json")))
    base = plain(w)
    diff = check_golden(model_dir, w, cfg)

    # PEFT's AdaLoRA layers at init_r, with trained-looking values, then pruned by masks.
    torch.manual_seed(13)
    saved, rank_pattern, adapters = {}, {}, {}
    for i in range(cfg["num_hidden_layers"]):
        for t in TARGETS:
            module = "model.layers.%d.%s" % (i, t)
            out_f, in_f = w[module + ".weight"].shape
            a = (torch.randn(INIT_R, in_f) * 0.2).to(torch.float32)  # (r, in)
            e = (torch.randn(INIT_R, 1) * 0.3).to(torch.float32)  # (r, 1)
            b = (torch.randn(out_f, INIT_R) * 0.2).to(torch.float32)  # (out, r)
            keep = torch.rand(INIT_R) > 0.4
            if i == 0 and t == TARGETS[0]:
                keep[:] = True  # one layer keeps every rank: PEFT does not slice it
            keep[0] = True  # every layer keeps at least one rank
            rank_pattern[module + ".lora_E"] = keep.tolist()
            a, e, b = a[keep], e[keep], b[:, keep]  # resize_state_dict_by_rank_pattern
            for name, value in (("lora_A", a), ("lora_E", e), ("lora_B", b)):
                saved["base_model.model.%s.%s" % (module, name)] = value
            adapters[module] = (a.to(torch.float64), e.to(torch.float64), b.to(torch.float64))
    ranknum = float(torch.tensor(INIT_R, dtype=torch.float32) + 1e-5)  # ranknum + 1e-5, float32

    def adapted(module, h):
        y = base(module, h)
        if module in adapters:
            a, e, b = adapters[module]
            y = y + (h @ (a * e).T @ b.T) * ALPHA / ranknum
        return y

    ids = next(c["ids"] for c in golden["tokenizer"]["cases"] if c["text"] == TEXT_CASE)
    logits = llama(w, cfg, embed(w, ids), adapted)  # (T, V)
    loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item()
    base_loss = torch.nn.functional.cross_entropy(llama(w, cfg, embed(w, ids))[:-1], torch.tensor(ids[1:])).item()

    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), saved)
    config = {
        "base_model_name_or_path": "stories260K", "beta1": 0.85, "beta2": 0.85, "bias": "none",
        "deltaT": 1, "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "init_r": INIT_R, "lora_alpha": ALPHA, "lora_dropout": 0.0, "modules_to_save": None,
        "orth_reg_weight": 0.5, "peft_type": "ADALORA", "r": 8, "rank_pattern": rank_pattern,
        "target_modules": sorted(t.split(".")[1] for t in TARGETS), "target_r": 8, "task_type": "CAUSAL_LM",
        "tfinal": 0, "tinit": 0, "total_step": 100,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    expected = {
        "made_by": "tools/adalora_reference.py (float64 torch %s)" % torch.__version__,
        "text": TEXT_CASE, "ids": ids, "loss": loss, "base_loss": base_loss,
        "kept_ranks": {k: sum(v) for k, v in rank_pattern.items()},
        "last_position_logits": logits[-1].tolist(),
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("loss %.6f (base %.6f) over %d tokens; %d of %d ranks kept; base forward within %.2g of golden.json"
          % (loss, base_loss, len(ids) - 1, sum(expected["kept_ranks"].values()), INIT_R * len(rank_pattern), diff))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
