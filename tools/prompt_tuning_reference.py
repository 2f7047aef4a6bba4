#!/usr/bin/python3
"""Independent reference for prompt tuning on stories260K (Llama), written from the equations.

Runs the Hugging Face Llama forward of tools/reference.py in float64 torch with PEFT's prompt
tuning: inputs_embeds = concat(P, E(x)), positions 0..n+T-1, labels -100 on the virtual
positions. It checks its base forward against the model's golden.json, then writes a PEFT
PROMPT_TUNING adapter (adapter_config.json + adapter_model.safetensors with prompt_embeddings) and
expected.json (token ids, loss, logits of the first and last real positions) to the output folder.

Usage: tools/prompt_tuning_reference.py <stories260K folder> <output folder>
(the conformance fixture: method-bundles/conformance/src/test/resources/prompt-tuning-stories260K)
"""
import json
import os
import sys

import torch

from reference import check_golden, embed, llama, load, write_safetensors

VIRTUAL_TOKENS = 8
TEXT_CASE = "Once upon a time, there was a little girl named Lily."


def main(model_dir, out_dir):
    cfg, w = load(model_dir)
    golden = json.load(open(os.path.join(model_dir, "golden.json")))
    diff = check_golden(model_dir, w, cfg)  # the base forward first

    # Token ids from golden.json's tokenizer cases (BOS included), not from any tokenizer here.
    ids = next(c["ids"] for c in golden["tokenizer"]["cases"] if c["text"] == TEXT_CASE)
    torch.manual_seed(14)
    prompt = torch.randn(VIRTUAL_TOKENS, cfg["hidden_size"]).to(torch.float32)  # PEFT's N(0, 1)
    inputs = torch.cat((prompt.to(torch.float64), embed(w, ids)))  # (n + T, d)
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
