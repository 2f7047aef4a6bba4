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
The forward is tools/reference.py's, in float64.
Run:  /usr/bin/python3 tools/bottleneck_reference.py ../shared/models/stories260K \
          method-bundles/conformance/src/test/resources/bottleneck
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

from reference import embed, llama, load, write_safetensors


def logits(c, w, ids, adapters, config):
    """The logits (L, V) of the ids with the bottleneck adapters where AdapterHub places them."""
    act = F.silu if config == "houlsby" else F.relu

    def bottleneck(x, p):
        down = x @ p["adapter_down.0.weight"].t() + p["adapter_down.0.bias"]
        return act(down) @ p["adapter_up.weight"].t() + p["adapter_up.bias"]

    def adapt(place, i, out, residual):
        if place == "attention":
            if config != "houlsby":
                return out
            return out + bottleneck(out, adapters[f"model.layers.{i}.attention_adapters.adapters.default."])
        ad = adapters[f"model.layers.{i}.output_adapters.adapters.default."]
        return out + bottleneck(out, ad) if config == "houlsby" else out + bottleneck(out + residual, ad)

    return llama(w, c, embed(w, ids), adapt=adapt)


def main(model_dir, out_dir):
    c, w = load(model_dir)
    ids = [1, 403, 407, 261, 378]
    d, m = c["hidden_size"], c["hidden_size"] // 16
    for config, act in (("houlsby", "swish"), ("pfeiffer", "relu")):
        torch.manual_seed(11)
        tensors, adapters = {}, {}
        for i in range(c["num_hidden_layers"]):
            places = ["attention_adapters", "output_adapters"] if config == "houlsby" else ["output_adapters"]
            for place in places:
                p = f"model.layers.{i}.{place}.adapters.default."
                drawn = {
                    "adapter_down.0.weight": torch.randn(m, d) * 0.2,
                    "adapter_down.0.bias": torch.randn(m) * 0.1,
                    "adapter_up.weight": torch.randn(d, m) * 0.2,
                    "adapter_up.bias": torch.randn(d) * 0.1,
                }
                for k, t in drawn.items():
                    tensors[p + k] = t
                adapters[p] = {k: t.to(torch.float64) for k, t in drawn.items()}
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
