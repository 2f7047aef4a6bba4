#!/usr/bin/env python3
"""Independent reference for the `adapter` method: stories260K (Llama) in plain PyTorch with
AdapterHub's bottleneck adapters placed as its Llama block places them (adapters/models/llama/
modeling_llama.py, methods/modeling.py with layer_norm=None):

  houlsby (double_seq_bn): a <- a + up(swish(down(a))) after o_proj; m <- m + up(swish(down(m)))
                           after down_proj; the block adds its residual after each.
  pfeiffer (seq_bn):       m <- m + up(relu(down(m + h))) after down_proj only, h the residual.

For each config it draws adapter weights (seeded, large enough to matter), writes them as an
AdapterHub-layout adapter folder (adapter_config.json + adapter.safetensors, with graft_methods so
that Graft loads it), and the logits of the prompt [1, 403, 407, 261, 378] at positions 0..4.
Run:  /usr/bin/python3 tools/bottleneck_reference.py ../shared/models/stories260K \
          method-bundles/conformance/src/test/resources/bottleneck
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def logits(c, w, ids, adapters, config):
    d, nh, kvh = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd, eps, s = d // nh, c["rms_norm_eps"], ids.shape[1]
    inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(s, dtype=torch.float64), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()  # (S, hd)
    mask = torch.ones(s, s, dtype=torch.bool).tril()
    act = F.silu if config == "houlsby" else F.relu

    def bottleneck(x, p):
        down = x @ p["adapter_down.0.weight"].t() + p["adapter_down.0.bias"]
        return act(down) @ p["adapter_up.weight"].t() + p["adapter_up.bias"]

    x = w["model.embed_tokens.weight"][ids]  # (1, S, d)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].t()).view(1, s, nh, hd).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].t()).view(1, s, kvh, hd).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].t()).view(1, s, kvh, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(nh // kvh, dim=1), v.repeat_interleave(nh // kvh, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        a = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1) @ v  # (1, nh, S, hd)
        a = a.transpose(1, 2).reshape(1, s, d) @ w[p + "self_attn.o_proj.weight"].t()
        if config == "houlsby":
            a = a + bottleneck(a, adapters[f"{p}attention_adapters.adapters.default."])
        x = x + a
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].t()
        up = h @ w[p + "mlp.up_proj.weight"].t()
        m = (F.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].t()
        ad = adapters[f"{p}output_adapters.adapters.default."]
        m = m + bottleneck(m, ad) if config == "houlsby" else m + bottleneck(m + x, ad)
        x = x + m
    return rms(x, w["model.norm.weight"], eps) @ w["model.embed_tokens.weight"].t()


def main(model_dir, out_dir):
    c = json.load(open(os.path.join(model_dir, "config.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    ids = torch.tensor([[1, 403, 407, 261, 378]])
    d, m = c["hidden_size"], c["hidden_size"] // 16
    for config, act in (("houlsby", "swish"), ("pfeiffer", "relu")):
        torch.manual_seed(11)
        tensors, adapters = {}, {}
        for i in range(c["num_hidden_layers"]):
            places = ["attention_adapters", "output_adapters"] if config == "houlsby" else ["output_adapters"]
            for place in places:
                p = f"model.layers.{i}.{place}.adapters.default."
                adapters[p] = {
                    "adapter_down.0.weight": torch.randn(m, d) * 0.2,
                    "adapter_down.0.bias": torch.randn(m) * 0.1,
                    "adapter_up.weight": torch.randn(d, m) * 0.2,
                    "adapter_up.bias": torch.randn(d) * 0.1,
                }
                for k, t in adapters[p].items():
                    tensors[p + k] = t
        out = os.path.join(out_dir, config)
        os.makedirs(out, exist_ok=True)
        write_safetensors(os.path.join(out, "adapter.safetensors"), tensors)
        cfg = {
            "config": {"architecture": "bottleneck", "mh_adapter": config == "houlsby",
                       "output_adapter": True, "reduction_factor": 16.0, "non_linearity": act,
                       "original_ln_before": config == "pfeiffer", "original_ln_after": True,
                       "residual_before_ln": True, "init_weights": "bert", "leave_out": []},
            "hidden_size": d, "model_class": "LlamaForCausalLM", "model_name": None,
            "model_type": "llama", "name": "default", "version": "adapters.1.1.0",
            "graft_methods": [{"name": "adapter", "version": "0.1.0",
                               "options": {"config": config, "reduction_factor": 16.0,
                                           "non_linearity": act, "init_weights": "bert",
                                           "train_layer_norms": False}}],
        }
        with open(os.path.join(out, "adapter_config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        with torch.no_grad():
            y = logits(c, w, ids, adapters, config)
        with open(os.path.join(out, "logits.json"), "w") as f:
            json.dump([round(v, 6) for v in y.reshape(-1).tolist()], f)
        print(config, tuple(y.shape), float(y.abs().max()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
