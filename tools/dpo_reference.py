#!/usr/bin/env python3
"""Independent DPO reference for Graft's tests: a LoRA adapter, a preference file, and the DPO loss
and TRL reward metrics of that adapter against the base model, computed here in PyTorch.

Everything is reimplemented from the file formats (no transformers, PEFT, TRL or tokenizers):
  * stories260K's tokenizer: tokenizer.json's BPE (SentencePiece-style: '▁' for spaces, one
    prepended, merges by rank, byte fallback), <s> first;
  * the Llama forward: RMSNorm, RoPE (rotate-half), grouped-query causal attention, SiLU MLP,
    tied head, in float64;
  * LoRA as PEFT applies it: W x + (alpha / r) B A x on q_proj and v_proj;
  * DPO as TRL computes it (methods.md §2.17): sequence log-probs summed over completion tokens,
    h = (pi_w - ref_w) - (pi_l - ref_l), loss = mean -log sigmoid(beta h); rewards = beta (pi - ref).

Sequences follow Graft's DPO rendering: <s> + tokens(prompt + completion) + </s>, the whole text
tokenized at once; the completion's tokens (from the token count of <s> + tokens(prompt)) and </s>
are learned.

Usage: tools/dpo_reference.py <stories260K dir> <out dir>
Writes <out>/adapter/{adapter_config.json, adapter_model.safetensors}, <out>/pairs.jsonl and
<out>/expected.json.
"""
import json
import math
import os
import sys

import torch

from reference import embed, llama, load, write_safetensors

PAIRS = [
    ("Once upon a time, there was a", " little dog named Max.", " big red ball."),
    ("Lily had a", " red ball. She threw it to Tom.", " cat that liked to sleep."),
    ("One day, a small bird", " sat on a tree and sang.", " swam in the blue sea."),
    ("Ben wanted a big", " cake for his birthday.", " tower of blocks."),
]
BETA = 0.1
RANK = 2
ALPHA = 4.0
TARGETS = ("q_proj", "v_proj")


class Bpe:
    def __init__(self, path):
        spec = json.load(open(path))
        model = spec["model"]
        self.vocab = model["vocab"]
        self.ranks = {}
        for i, m in enumerate(model["merges"]):
            pair = tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
            self.ranks[pair] = i

    def encode(self, text):
        text = "\u2581" + text.replace(" ", "\u2581")
        pieces = []
        for ch in text:
            if ch in self.vocab:
                pieces.append(ch)
            else:
                pieces.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        while len(pieces) > 1:
            best = None
            for i in range(len(pieces) - 1):
                r = self.ranks.get((pieces[i], pieces[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            pieces[i : i + 2] = [pieces[i] + pieces[i + 1]]
        return [self.vocab[p] for p in pieces]


def forward(w, cfg, ids, lora):
    """Logits (T, V) of one sequence; lora maps 'model.layers.i.self_attn.q_proj' -> (A, B)."""

    def linear(name, x):
        y = x @ w[name + ".weight"].T
        if lora is not None and name in lora:
            a, b = lora[name]
            y = y + (ALPHA / RANK) * (x @ a.T) @ b.T
        return y

    return llama(w, cfg, embed(w, ids), linear)


def sequence_logp(w, cfg, ids, first_learned, lora):
    logp = torch.log_softmax(forward(w, cfg, ids, lora), dim=-1)
    # position t predicts token t + 1; tokens from first_learned on are learned
    return sum(logp[t - 1, ids[t]].item() for t in range(first_learned, len(ids)))


def main(model_dir, out_dir):
    cfg, w = load(model_dir)
    bpe = Bpe(os.path.join(model_dir, "tokenizer.json"))
    bos, eos = cfg["bos_token_id"], cfg["eos_token_id"]

    # A fixed adapter whose B is not zero, so the policy differs from the base model.
    g = torch.Generator().manual_seed(1234)
    lora, tensors = {}, {}
    for i in range(cfg["num_hidden_layers"]):
        for target in TARGETS:
            name = "model.layers.%d.self_attn.%s" % (i, target)
            out_f, in_f = w[name + ".weight"].shape
            a = (torch.rand(RANK, in_f, generator=g, dtype=torch.float64) - 0.5) * 0.6
            b = (torch.rand(out_f, RANK, generator=g, dtype=torch.float64) - 0.5) * 0.6
            a, b = a.to(torch.float32).to(torch.float64), b.to(torch.float32).to(torch.float64)
            lora[name] = (a, b)
            tensors["base_model.model.%s.lora_A.weight" % name] = a
            tensors["base_model.model.%s.lora_B.weight" % name] = b
    adapter = os.path.join(out_dir, "adapter")
    os.makedirs(adapter, exist_ok=True)
    write_safetensors(os.path.join(adapter, "adapter_model.safetensors"), tensors)
    config = {
        "base_model_name_or_path": "stories260K",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.0,
        "peft_type": "LORA",
        "r": RANK,
        "target_modules": list(TARGETS),
        "task_type": "CAUSAL_LM",
        "use_rslora": False,
    }
    with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)

    with open(os.path.join(out_dir, "pairs.jsonl"), "w") as f:
        for prompt, chosen, rejected in PAIRS:
            f.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")

    rows = []
    for prompt, chosen, rejected in PAIRS:
        first = 1 + len(bpe.encode(prompt))
        row = {}
        for side, completion in (("chosen", chosen), ("rejected", rejected)):
            ids = [bos] + bpe.encode(prompt + completion) + [eos]
            row[side] = {
                "ids": ids,
                "policy": sequence_logp(w, cfg, ids, first, lora),
                "reference": sequence_logp(w, cfg, ids, first, None),
            }
        rows.append(row)
    chosen_r = [BETA * (r["chosen"]["policy"] - r["chosen"]["reference"]) for r in rows]
    rejected_r = [BETA * (r["rejected"]["policy"] - r["rejected"]["reference"]) for r in rows]
    losses = [-math.log(1 / (1 + math.exp(-(c - j)))) for c, j in zip(chosen_r, rejected_r)]
    n = len(rows)
    expected = {
        "beta": BETA,
        "loss": sum(losses) / n,
        "rewards/chosen": sum(chosen_r) / n,
        "rewards/rejected": sum(rejected_r) / n,
        "rewards/accuracies": sum(1.0 for c, j in zip(chosen_r, rejected_r) if c > j) / n,
        "rewards/margins": sum(c - j for c, j in zip(chosen_r, rejected_r)) / n,
        "logps/chosen": sum(r["chosen"]["policy"] for r in rows) / n,
        "logps/rejected": sum(r["rejected"]["policy"] for r in rows) / n,
        "pairs": rows,
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(json.dumps({k: v for k, v in expected.items() if k != "pairs"}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
