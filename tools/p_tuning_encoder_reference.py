#!/usr/bin/python3
"""Independent reference for P-tuning's prompt encoders, as PEFT's PromptEncoder builds them.

torch modules, not Graft's equations: Embedding(n, d) then
  MLP:  Sequential(Linear(d, h), ReLU, Linear(h, h), ReLU, Linear(h, d))
  LSTM: LSTM(d, h, num_layers, bidirectional, batch_first) then Sequential(Linear(2h, 2h), ReLU,
        Linear(2h, d))
with torch's own random initialisation, in float64 (eval mode: no dropout). Writes one safetensors
file with every parameter under PEFT's module names prefixed by the encoder type
("MLP.prompt_encoder.mlp_head.0.weight", "LSTM.prompt_encoder.lstm_head.weight_ih_l0_reverse", ...)
and the encoder outputs as "MLP.expected" and "LSTM.expected" (n, d), all stored as float32 after
rounding the parameters to float32 first, so the expected output is that of the stored values.

Usage: tools/p_tuning_encoder_reference.py <output .safetensors>
(the fixture: method-bundles/p-tuning/src/test/resources/encoder-reference.safetensors)
"""
import sys

import torch

from reference import write_safetensors

N, D, H, LAYERS = 5, 6, 4, 2


def main(out):
    torch.manual_seed(13)
    tensors = {}
    embedding = torch.nn.Embedding(N, D)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, H), torch.nn.ReLU(), torch.nn.Linear(H, D))
    lstm = torch.nn.LSTM(D, H, num_layers=LAYERS, dropout=0.0, bidirectional=True, batch_first=True)
    lstm_mlp = torch.nn.Sequential(torch.nn.Linear(2 * H, 2 * H), torch.nn.ReLU(), torch.nn.Linear(2 * H, D))
    modules = {
        "MLP": {"embedding": embedding, "mlp_head": mlp},
        "LSTM": {"embedding": embedding, "lstm_head": lstm, "mlp_head": lstm_mlp},
    }
    for kind, parts in modules.items():
        for part, module in parts.items():
            module.double()
            with torch.no_grad():
                for name, p in module.named_parameters():
                    p.copy_(p.float().double())  # the stored float32 values exactly
                    tensors["%s.prompt_encoder.%s.%s" % (kind, part, name)] = p.detach().float()
    with torch.no_grad():
        e = embedding.weight.unsqueeze(0)  # (1, n, d): one sequence of the n virtual tokens
        tensors["MLP.expected"] = mlp(e)[0].float()
        tensors["LSTM.expected"] = lstm_mlp(lstm(e)[0])[0].float()
    write_safetensors(out, tensors)
    print("wrote %d tensors to %s" % (len(tensors), out))


if __name__ == "__main__":
    main(sys.argv[1])
