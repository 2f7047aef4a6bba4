#!/usr/bin/python3
"""Independent reference for prompt tuning on stories260K (Llama), written from the equations.

Reads the model's safetensors with its own parser, runs the Hugging Face Llama forward in float64
torch (RMSNorm, rotate_half RoPE, grouped-query causal attention, SwiGLU, tied lm_head) with PEFT's
prompt tuning: inputs_embeds = concat(P, E(x)), positions 0..n+T-1, labels -100 on the virtual
positions. It checks its base forward against the model's golden.json, then writes a PEFT
PROMPT_TUNING adapter (adapter_config.json + adapter_model.safetensors with prompt_embeddings) and
expected.json (token ids, loss, logits of the first and last real positions) to the output folder.

Usage: tools/prompt_tuning_reference.py <stories260K folder> <output folder>
(the conformance fixture: method-bundles/conformance/src/test/resources/prompt-tuning-stories260K)
"""
import json
import math
import os
import struct
import sys

import torch

VIRTUAL_TOKENS = 8
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


def llama(w, cfg, inputs_embeds):
    """The logits (L, V) of one sequence of embeddings (L, d) at positions 0..L-1."""
    d, nh, kvh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs, eps = d // nh, cfg["rms_norm_eps"]
    length = inputs_embeds.shape[0]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)  # (L, hs/2)
    cos = torch.cat((angles, angles), -1).cos()  # (L, hs)
    sin = torch.cat((angles, angles), -1).sin()
    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    x = inputs_embeds
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(length, nh, hs).transpose(0, 1)  # (nh, L, hs)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(length, kvh, hs).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(length, kvh, hs).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // kvh, dim=0)  # (nh, L, hs)
        v = v.repeat_interleave(nh // kvh, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(hs) + mask  # (nh, L, L)
        context = (scores.softmax(-1) @ v).transpose(0, 1).reshape(length, d)
        x = x + context @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T  # (L, V)


def main(model_dir, out_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    golden = json.load(open(os.path.join(model_dir, "golden.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    embed = w["model.embed_tokens.weight"]

    # The base forward first, against golden.json.
    g = golden["logits"]
    base = llama(w, cfg, embed[torch.tensor(g["prompt_ids"])])
    diff = (base[-1, :8] - torch.tensor(g["last_position_first8"], dtype=torch.float64)).abs().max()
    assert diff < 1e-4, "base forward differs from golden.json by %g" % diff

    # Token ids from golden.json's tokenizer cases (BOS included), not from any tokenizer here.
    ids = next(c["ids"] for c in golden["tokenizer"]["cases"] if c["text"] == TEXT_CASE)
    torch.manual_seed(14)
    prompt = torch.randn(VIRTUAL_TOKENS, cfg["hidden_size"]).to(torch.float32)  # PEFT's N(0, 1)
    inputs = torch.cat((prompt.to(torch.float64), embed[torch.tensor(ids)]))  # (n + T, d)
    logits = llama(w, cfg, inputs)[VIRTUAL_TOKENS:]  # (T, V): real positions only
    # PEFT: labels -100 on virtual positions; logits at i predict token i + 1.
    loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item()

    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), {"prompt_embeddings": prompt})
    config = {
        "base_model_name_or_path": "stories260K", "inference_mode": True, "modules_to_save": None,
        "num_attention_heads": cfg["num_attention_heads"], "num_layers": cfg["num_hidden_layers"],
        "num_transformer_submodules": 1, "num_virtual_tokens": VIRTUAL_TOKENS, "peft_type": "PROMPT_TUNING",
        "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None, "revision": None,
        "task_type": "CAUSAL_LM", "token_dim": cfg["hidden_size"], "tokenizer_kwargs": None,
        "tokenizer_name_or_path": None,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    expected = {
        "made_by": "tools/prompt_tuning_reference.py (float64 torch %s)" % torch.__version__,
        "text": TEXT_CASE, "ids": ids, "loss": loss,
        "first_position_logits": logits[0].tolist(), "last_position_logits": logits[-1].tolist(),
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("loss %.6f over %d tokens; base forward within %.2g of golden.json" % (loss, len(ids) - 1, diff))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
