#!/usr/bin/python3
"""Independent reference for Graft's DoRA and PiSSA adapters on stories260K (PyTorch 1.13, no PEFT).

Writes, under method-bundles/conformance/src/test/resources/peft/:
  dora/   a PEFT LoRA adapter with use_dora: true (A, B, lora_magnitude_vector on q_proj, v_proj)
  pissa/  a PEFT LoRA adapter with init_lora_weights: "pissa" (A, B to apply on the residual
          W - s*B0*A0 that PEFT computes again from the top-r singular vectors of W)
and expected.json: token ids and each adapter's mean next-token cross-entropy over them, computed
here in float64 with this file's own Llama forward (checked against stories260K's golden logits).

The forward follows PEFT's layers: DoRA as DoraLinearLayer (y = W x + (m/|W + sBA| - 1) W x
+ m/|W + sBA| * s B A x, the norm per output row); PiSSA as layer.py's pissa_init (W = V S U^T,
A = diag(sqrt(S_r / s)) U_r^T, B = V_r diag(sqrt(S_r / s)), W_res = W - s B A). The PiSSA adapter's
A and B are random (a trained adapter); the residual does not depend on the signs an SVD picks.

Usage: /usr/bin/python3 tools/peft-fixtures.py [../shared/models/stories260K]
"""
import json
import math
import os
import sys

import torch

from reference import check_golden, embed, llama, load, plain, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "method-bundles", "conformance", "src", "test", "resources", "peft")
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "models", "stories260K")
R, ALPHA = 4, 8.0
S = ALPHA / R
TARGETS = ("q_proj", "v_proj")


def loss(cfg, w, ids, linear):
    lg = llama(w, cfg, embed(w, ids), linear)
    return torch.nn.functional.cross_entropy(lg[:-1], torch.tensor(ids[1:])).item()


def targets(cfg):
    return [f"model.layers.{i}.self_attn.{t}" for i in range(cfg["num_hidden_layers"]) for t in TARGETS]


def adapter_config(cfg, **fields):
    c = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "stories260K", "r": R,
         "lora_alpha": ALPHA, "lora_dropout": 0.0, "target_modules": list(TARGETS), "fan_in_fan_out": False,
         "bias": "none", "use_rslora": False, "use_dora": False, "init_lora_weights": True,
         "rank_pattern": {}, "alpha_pattern": {}, "modules_to_save": None, "inference_mode": True}
    c.update(fields)
    return c


def save(name, config, tensors):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"),
                      {"base_model.model." + k: v for k, v in tensors.items()}, sort=True)


def dora(cfg, w, gen):
    """Random A and B, and m = |W + sBA| times a random factor near 1 per row."""
    ad = {}
    for t in targets(cfg):
        out, inp = w[t + ".weight"].shape
        a = torch.randn(R, inp, generator=gen, dtype=torch.float64) / math.sqrt(inp)
        b = torch.randn(out, R, generator=gen, dtype=torch.float64) * 0.2
        norm = torch.linalg.norm(w[t + ".weight"] + S * b @ a, dim=1)
        m = norm * (1 + 0.2 * torch.randn(out, generator=gen, dtype=torch.float64))
        ad[t] = (a.float().double(), b.float().double(), m.float().double())

    def linear(n, x):
        base = x @ w[n + ".weight"].T
        if n not in ad:
            return base
        a, b, m = ad[n]
        norm = torch.linalg.norm(w[n + ".weight"] + S * b @ a, dim=1).detach()  # DoraLinearLayer.get_weight_norm
        scale = (m / norm).view(1, -1)
        return base + (scale - 1) * base + scale * ((x @ a.T) @ b.T) * S

    tensors = {}
    for t, (a, b, m) in ad.items():
        tensors[t + ".lora_A.weight"], tensors[t + ".lora_B.weight"] = a, b
        tensors[t + ".lora_magnitude_vector"] = m
    save("dora", adapter_config(cfg, use_dora=True), tensors)
    return linear


def pissa(cfg, w, gen):
    """The residual from an exact SVD of each target, and random (trained) A and B on it."""
    ad = {}
    for t in targets(cfg):
        out, inp = w[t + ".weight"].shape
        v, s, uh = torch.linalg.svd(w[t + ".weight"], full_matrices=False)
        sr = s[:R] / S
        a0 = torch.diag(torch.sqrt(sr)) @ uh[:R]
        b0 = v[:, :R] @ torch.diag(torch.sqrt(sr))
        residual = w[t + ".weight"] - S * b0 @ a0
        a = (a0 + 0.1 * torch.randn(R, inp, generator=gen, dtype=torch.float64)).float().double()
        b = (b0 + 0.1 * torch.randn(out, R, generator=gen, dtype=torch.float64)).float().double()
        ad[t] = (residual, a, b)

    def linear(n, x):
        if n not in ad:
            return x @ w[n + ".weight"].T
        residual, a, b = ad[n]
        return x @ residual.T + ((x @ a.T) @ b.T) * S

    tensors = {}
    for t, (_, a, b) in ad.items():
        tensors[t + ".lora_A.weight"], tensors[t + ".lora_B.weight"] = a, b
    save("pissa", adapter_config(cfg, init_lora_weights="pissa"), tensors)
    return linear


def main():
    cfg, w = load(MODEL)
    diff = check_golden(MODEL, w, cfg)
    gen = torch.Generator().manual_seed(13)
    ids = json.load(open(os.path.join(MODEL, "golden.json")))["greedy"]["all_ids"][:32]  # a story
    base = plain(w)
    expected = {"ids": ids, "base": loss(cfg, w, ids, base)}
    expected["dora"] = loss(cfg, w, ids, dora(cfg, w, gen))
    expected["pissa"] = loss(cfg, w, ids, pissa(cfg, w, gen))
    expected["note"] = ("mean next-token cross-entropy over ids, float64, tools/peft-fixtures.py; "
                        f"base forward within {diff:.1e} of golden.json's logits")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
    print(json.dumps(expected, indent=2))


if __name__ == "__main__":
    main()
