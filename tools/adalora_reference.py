#!/usr/bin/python3
"""Independent reference for AdaLoRA on stories260K (Llama), written from PEFT's equations.

Builds a PEFT ADALORA adapter on q_proj, v_proj and down_proj with init_r = 12 (A, B ~ N(0, 0.2²),
E ~ N(0, 0.3²)), prunes singular values with a rank_pattern of boolean masks as PEFT's RankAllocator
writes it (one layer keeps all 12, the others fewer), and slices the saved tensors to the kept ranks
as PEFT's save does (resize_state_dict_by_rank_pattern). The forward is PEFT's SVDLinear:
y = W x + (x (A*E)^T B^T) * lora_alpha / (ranknum + 1e-5), ranknum = init_r (kept through the
resize). It runs the Hugging Face Llama forward in float64 torch (its own safetensors reader, token
ids from golden.json; the base forward is checked against golden.json) and writes the adapter and
expected.json (token ids, loss, logits of the last position).

Usage: tools/adalora_reference.py <stories260K folder> <output folder>
(the conformance fixture: method-bundles/conformance/src/test/resources/adalora-stories260K)
"""
import json
import math
import os
import struct
import sys

import torch

INIT_R = 12
ALPHA = 16.0
TARGETS = ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")
TEXT_CASE = "Once upon a time, there was a little girl named Lily."


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        values = struct.unpack("<%df" % ((end - start) // 4), data[start:end])
        tensors[name] = torch.tensor(values, dtype=torch.float64).reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        blob = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def llama(w, cfg, ids, linear):
    """The logits (L, V) of one token sequence; linear(module, h) applies a (possibly adapted) layer."""
    d, nh, kvh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs, eps = d // nh, cfg["rms_norm_eps"]
    length = len(ids)
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)  # (L, hs/2)
    cos = torch.cat((angles, angles), -1).cos()  # (L, hs)
    sin = torch.cat((angles, angles), -1).sin()
    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]  # (L, d)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(p + "self_attn.q_proj", h).view(length, nh, hs).transpose(0, 1)  # (nh, L, hs)
        k = linear(p + "self_attn.k_proj", h).view(length, kvh, hs).transpose(0, 1)
        v = linear(p + "self_attn.v_proj", h).view(length, kvh, hs).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // kvh, dim=0)  # (nh, L, hs)
        v = v.repeat_interleave(nh // kvh, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(hs) + mask  # (nh, L, L)
        context = (scores.softmax(-1) @ v).transpose(0, 1).reshape(length, d)
        x = x + linear(p + "self_attn.o_proj", context)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(linear(p + "mlp.gate_proj", h))
        x = x + linear(p + "mlp.down_proj", gate * linear(p + "mlp.up_proj", h))
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T  # (L, V)


def main(model_dir, out_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    golden = json.load(open(os.path.join(model_dir, "golden.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))

    def base(module, h):
        return h @ w[module + ".weight"].T

    g = golden["logits"]
    logits = llama(w, cfg, g["prompt_ids"], base)
    diff = (logits[-1, :8] - torch.tensor(g["last_position_first8"], dtype=torch.float64)).abs().max()
    assert diff < 1e-4, "base forward differs from golden.json by %g" % diff

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
    logits = llama(w, cfg, ids, adapted)  # (T, V)
    loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item()
    base_loss = torch.nn.functional.cross_entropy(llama(w, cfg, ids, base)[:-1], torch.tensor(ids[1:])).item()

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
