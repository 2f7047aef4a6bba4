#!/usr/bin/python3
"""Writes method-bundles/qlora/src/test/resources/bnb4bit.json: bitsandbytes' 4-bit quantisation
(NF4 and FP4, plain and double-quantised) of a small tensor, reimplemented in torch from
bitsandbytes' reference backend (bitsandbytes/backends/default/ops.py quantize_4bit,
quantize_blockwise, dequantize_blockwise; functional.py create_dynamic_map, quantize_4bit with
compress_statistics). The tensor has 3·67 + 2 = 203 elements (an odd number: the last block holds
11, and one code pads the last byte), a block of zeros and a block with one outlier.

Run: /usr/bin/python3 tools/qlora_fixture.py
"""
import json
import pathlib

import torch

NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0], dtype=torch.float32)
FP4 = torch.tensor([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0.0, -0.0625, -8.0, -12.0, -4.0,
                    -6.0, -2.0, -3.0], dtype=torch.float32)
FP4 = FP4 / FP4.abs().max()


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def absmax_scaled(a, blocksize):
    n = a.numel()
    rem = n % blocksize
    full = n // blocksize
    absmax = torch.zeros((full + (1 if rem else 0),), dtype=torch.float32)
    flat = a.reshape(n)
    blocks = flat[: n - rem].reshape(full, blocksize)
    absmax[:full] = blocks.abs().max(dim=-1)[0]
    scaled = torch.clamp(blocks * (1 / absmax[:full].view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        tail = flat[n - rem:]
        absmax[-1] = tail.abs().max()
        scaled = torch.cat([scaled, torch.clamp(tail * (1 / absmax[-1]), -1, 1)], dim=0)
    return absmax, scaled


def quantize_4bit(a, code, blocksize=64):
    absmax, scaled = absmax_scaled(a, blocksize)
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1), value=0.0)
    q = torch.argmin(torch.abs(scaled.view(-1, 1) - code), dim=-1).to(torch.uint8)
    return (q[::2] << 4) | q[1::2], absmax


def quantize_blockwise(a, code, blocksize=256):
    absmax, scaled = absmax_scaled(a, blocksize)
    return torch.argmin(torch.abs(scaled.unsqueeze(-1) - code), dim=-1).to(torch.uint8), absmax


def dequantize_blockwise(q, absmax, code, blocksize=256):
    out = code[q.reshape(-1).long()]
    n = out.numel()
    res = n % blocksize
    if res:
        out = torch.nn.functional.pad(out, (0, blocksize - res), value=0)
    return (out.view(-1, blocksize) * absmax.view(-1, 1)).reshape(-1)[:n]


def dequantize_4bit(packed, absmax, code, n, blocksize=64):
    codes = torch.empty(packed.numel() * 2, dtype=torch.long)
    codes[1::2] = (packed & 0xF).long()
    codes[::2] = (packed >> 4).long()
    out = code[codes][:n]
    rem = n % blocksize
    if rem:
        out = torch.cat([(out[: n - rem].view(-1, blocksize) * absmax[:-1].view(-1, 1)).reshape(-1),
                         out[n - rem:] * absmax[-1]])
    else:
        out = (out.view(-1, blocksize) * absmax.view(-1, 1)).reshape(-1)
    return out


def main():
    g = torch.Generator().manual_seed(16)
    w = torch.randn(3, 67, generator=g, dtype=torch.float32) * 0.05
    w = torch.cat([w.reshape(-1), torch.randn(2, generator=g) * 0.05])  # 203 elements
    w[64:128] = 0.0  # block 1: zeros
    w[130] = 1.5  # block 2: one outlier
    dynamic = create_dynamic_map()
    cases = {}
    for name, code in (("nf4", NF4), ("fp4", FP4)):
        packed, absmax = quantize_4bit(w, code)
        plain = dequantize_4bit(packed, absmax, code, w.numel())
        offset = absmax.mean()
        qabsmax, nested = quantize_blockwise(absmax - offset, dynamic)
        absmax2 = dequantize_blockwise(qabsmax, nested, dynamic) + offset
        double = dequantize_4bit(packed, absmax2, code, w.numel())
        cases[name] = {
            "packed": packed.tolist(),
            "absmax": absmax.tolist(),
            "dequantised": plain.tolist(),
            "offset": offset.item(),
            "absmax_codes": qabsmax.tolist(),
            "nested_absmax": nested.tolist(),
            "dequantised_double": double.tolist(),
        }
    out = {"weight": w.tolist(), "dynamic_map": dynamic.tolist(), "cases": cases}
    path = pathlib.Path(__file__).resolve().parent.parent / \
        "method-bundles/qlora/src/test/resources/bnb4bit.json"
    path.write_text(json.dumps(out))
    print("wrote", path)


if __name__ == "__main__":
    main()
