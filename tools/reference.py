"""What the independent PyTorch references in tools/ share: a safetensors reader and writer of their
own (float32 on disk, float64 in memory) and the Hugging Face Llama forward in float64 torch, written
from the equations (RMSNorm, rotate_half RoPE, grouped-query causal attention, SwiGLU, tied lm_head)
with the places where a method changes it: each projection, and each block's attention and MLP
outputs before the residual adds them. Nothing here comes from Graft.
"""
import json
import math
import os
import struct

import torch


def read_safetensors(path):
    """Every tensor of a float32 safetensors file, as float64."""
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
        t = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32)
        tensors[name] = t.reshape(info["shape"]).to(torch.float64)
    return tensors


def write_safetensors(path, tensors, sort=False):
    """Writes the tensors as float32, in the given order or sorted by name."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors) if sort else tensors:
        blob = tensors[name].to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(model_dir):
    """A model folder's config.json and weights."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    return cfg, read_safetensors(os.path.join(model_dir, "model.safetensors"))


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def plain(w):
    """The projection of the weights as they are: linear(module, h) = h W^T."""
    return lambda module, h: h @ w[module + ".weight"].T


def embed(w, ids):
    """The token embeddings (L, d) of a list of ids."""
    return w["model.embed_tokens.weight"][torch.tensor(ids)]


def llama(w, cfg, x, linear=None, adapt=None):
    """The logits (L, V) of one sequence of input embeddings x (L, d) at positions 0..L-1.

    linear(module, h) applies a projection such as "model.layers.0.self_attn.q_proj" (by default
    the plain weight); adapt(place, layer, out, residual) returns what a block adds to its residual
    stream for place "attention" (after o_proj) or "mlp" (after down_proj), by default out itself.
    """
    linear = linear or plain(w)
    d, nh, kvh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs, eps = d // nh, cfg["rms_norm_eps"]
    length = x.shape[0]
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)  # (L, hs/2)
    cos = torch.cat((angles, angles), -1).cos()  # (L, hs)
    sin = torch.cat((angles, angles), -1).sin()
    mask = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
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
        out = linear(p + "self_attn.o_proj", context)
        x = x + (adapt("attention", i, out, x) if adapt else out)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(linear(p + "mlp.gate_proj", h))
        out = linear(p + "mlp.down_proj", gate * linear(p + "mlp.up_proj", h))
        x = x + (adapt("mlp", i, out, x) if adapt else out)
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T  # (L, V)


def check_golden(model_dir, w, cfg):
    """How far the base forward is from golden.json's logits (all positions, first 8); fails past 1e-4."""
    golden = json.load(open(os.path.join(model_dir, "golden.json")))["logits"]
    logits = llama(w, cfg, embed(w, golden["prompt_ids"]))
    diff = (logits[:, :8] - torch.tensor(golden["all_positions_first8"], dtype=torch.float64)).abs().max().item()
    assert diff < 1e-4, "the base forward differs from golden.json by %g" % diff
    return diff
