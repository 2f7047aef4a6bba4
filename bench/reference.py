#!/usr/bin/env python3
"""PyTorch side of bench/run: the same workloads as Graft's Bench, in plain PyTorch, fp32.

    python3 reference.py row --dir MODEL_DIR --workload lora-qv|lora-all|full|infer|adalora|adapter|bitfit|prompt-tuning|prefix-tuning|delta-lora-qv|moelora-qv|lora-drop-qv|dora|qlora|qlora-prequantised|lora-dpo \
        [--batch 4] [--seq 256] [--warmup 2] [--steps 3] [--threads 2]
    python3 reference.py gemm [--n 2048] [--threads 2]
    python3 reference.py blas

The model is built from the model folder's config.json (the folder Graft's `Bench init` wrote), with
random weights: only the arithmetic matters. GPT-2 (pre-LayerNorm, tanh GELU, tied head) and Llama
(RMSNorm, rotate-half RoPE, SiLU-gated MLP, untied head) are written out here so that nothing but
torch is needed. LoRA is plain: the base Linear frozen, A (r, in) Kaiming-uniform, B (out, r) zeros,
y = base(x) + (x A^T B^T) * alpha / r, on the same modules as Graft's `lora` (PEFT's defaults:
GPT-2 c_attn, Llama q_proj and v_proj; or all-linear, lm_head excluded). Training is one optimizer
step per batch: cross-entropy over all positions but the last of each row (as Graft's labels),
backward, clip_grad_norm_(1.0), AdamW(lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0) as
Graft's defaults. `lora-dpo` is lora-qv under DPO: rows 2i and 2i+1 are a (chosen, rejected) pair,
the reference log-probabilities come from a no-grad forward with the adapter disabled (TRL's
`disable_adapter`), loss -log sigmoid(0.1 h). Prints one `RESULT {json}` line.
"""

import argparse
import json
import math
import re
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def blas_in_use():
    """The BLAS library this process has mapped (the libblas.so.3 alternative, or OpenBLAS)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path or "mkl" in path:
                libs.add(path)
    info = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return {
        "torch": torch.__version__,
        "blas_info": info.group(1) if info else "",
        "blas_libraries": sorted(libs),
    }


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / r
        self.enabled = True

    def forward(self, x):
        if not self.enabled:
            return self.base(x)
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


class AdaLoraLinear(nn.Module):
    """PEFT's SVDLinear: y = base(x) + (x (A*E)^T B^T) * alpha / (ranknum + 1e-5)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.02)
        self.lora_E = nn.Parameter(torch.zeros(r, 1))
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r) * 0.02)
        self.scale = alpha / (r + 1e-5)

    def forward(self, x):
        return self.base(x) + (x @ (self.lora_A * self.lora_E).t() @ self.lora_B.t()) * self.scale


def orthogonality(layers):
    """PEFT's AdaLoraModel.forward term: mean over A and B of ||AA^T - I||_F and ||B^T B - I||_F."""
    total, n = 0.0, 0
    for m in layers:
        for cov in (m.lora_A @ m.lora_A.t(), m.lora_B.t() @ m.lora_B):
            total = total + torch.norm(cov - torch.eye(cov.shape[0]), p="fro")
            n += 1
    return total / n


class RankAllocator:
    """PEFT's RankAllocator.update_and_allocate (tinit 0, tfinal 0, deltaT 1, beta1 = beta2 = 0.85)."""

    def __init__(self, layers, target_r, total_step):
        self.layers, self.total = layers, total_step
        self.params = [p for m in layers for p in (m.lora_A, m.lora_E, m.lora_B)]
        self.ipt = [torch.zeros_like(p) for p in self.params]
        self.unc = [torch.zeros_like(p) for p in self.params]
        self.init_bgt = sum(m.lora_A.shape[0] for m in layers)
        self.target_bgt = target_r * len(layers)

    @torch.no_grad()
    def step(self, global_step):
        for i, p in enumerate(self.params):
            now = (p * p.grad).abs()
            self.ipt[i] = 0.85 * self.ipt[i] + 0.15 * now
            self.unc[i] = 0.85 * self.unc[i] + 0.15 * (now - self.ipt[i]).abs()
        if global_step <= 0:
            return
        mul = 1 - global_step / self.total
        budget = int((self.init_bgt - self.target_bgt) * mul**3 + self.target_bgt)
        s = [a * u for a, u in zip(self.ipt, self.unc)]
        scores = [s[3 * j + 1].view(-1) + s[3 * j].mean(1) + s[3 * j + 2].mean(0) for j in range(len(self.layers))]
        if self.init_bgt - budget > 0:
            threshold = torch.kthvalue(torch.cat(scores), self.init_bgt - budget)[0].item()
            for m, score in zip(self.layers, scores):
                m.lora_E.masked_fill_((score <= threshold).view(-1, 1), 0.0)


class BottleneckAfter(nn.Module):
    """AdapterHub's houlsby adapter on a sublayer's output, before the residual add:
    y + up(swish(down(y))), down (d/16, d), up (d, d/16), init_weights=bert."""

    def __init__(self, base: nn.Linear, reduction: int = 16):
        super().__init__()
        self.base = base
        d = base.out_features
        m = max(1, d // reduction)
        self.down = nn.Linear(d, m)
        self.up = nn.Linear(m, d)
        for layer in (self.down, self.up):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        y = self.base(x)
        return y + self.up(F.silu(self.down(y)))


VIRTUAL_TOKENS = 20  # prompt-tuning and prefix-tuning rows, as PEFT's examples


class MoeLoraLinear(LoraLinear):
    """MoELoRA for one task: experts stacked as one rank-r LoRA, the gate softmax(W_g E[task])
    spread over each expert's r / n ranks (Graft's moelora with one task)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, experts=4, dim=64):
        super().__init__(base, r, alpha)
        self.embedding = nn.Parameter(torch.randn(1, dim))
        self.gate = nn.Parameter(torch.empty(experts, dim))
        nn.init.kaiming_uniform_(self.gate, a=math.sqrt(5))
        self.per_expert = r // experts

    def forward(self, x):
        g = torch.softmax(self.embedding @ self.gate.t(), dim=-1)  # (1, n)
        g = g.repeat_interleave(self.per_expert, dim=-1)  # (1, r)
        return self.base(x) + ((x @ self.lora_A.t()) * g @ self.lora_B.t()) * self.scale


class DoraLinear(LoraLinear):
    """PEFT's DoraLinearLayer (no dropout): y = base + (f - 1) * W x + f * s * B A x with
    f = m / |W + s B A| per output row, the norm detached (DoRA paper section 4.3)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__(base, r, alpha)
        self.magnitude = nn.Parameter(base.weight.detach().norm(dim=1))

    def forward(self, x):
        result = self.base(x)
        lora_weight = (self.lora_B @ self.lora_A).detach()
        norm = (self.base.weight + self.scale * lora_weight).norm(dim=1).detach()
        f = (self.magnitude / norm).view(1, -1)
        plain = result if self.base.bias is None else result - self.base.bias
        return result + (f - 1) * plain + f * (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def causal_attention(q, k, v, mask):
    # q: (B, H, S, hd); k, v: (B, H, P+S, hd) with P prefix positions; mask: (S, P+S) bool,
    # True where attended
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    scores = scores.masked_fill(~mask, -1e9)
    return torch.softmax(scores, dim=-1) @ v


class Gpt2Block(nn.Module):
    def __init__(self, d, heads, inner, eps):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.c_fc = nn.Linear(d, inner)
        self.mlp_c_proj = nn.Linear(inner, d)

    def forward(self, x, mask, prefix=None):
        b, s, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=-1)
        q, k, v = (t.view(b, s, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        k, v = with_prefix(k, v, prefix)
        a = causal_attention(q, k, v, mask).transpose(1, 2).reshape(b, s, d)
        x = x + self.c_proj(a)
        return x + self.mlp_c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.get("n_embd", 768)
        self.wte = nn.Embedding(c.get("vocab_size", 50257), d)
        self.wpe = nn.Embedding(c.get("n_positions", 1024), d)
        eps = c.get("layer_norm_epsilon", 1e-5)
        self.h = nn.ModuleList(
            Gpt2Block(d, c.get("n_head", 12), c.get("n_inner") or 4 * d, eps)
            for _ in range(c.get("n_layer", 12))
        )
        self.ln_f = nn.LayerNorm(d, eps=eps)

    def forward(self, ids, prompt=None, prefix=None):
        x, n, mask = sequence(self.wte(ids), prompt, prefix)
        x = x + self.wpe(torch.arange(n, n + ids.shape[1]) if prefix is not None else torch.arange(x.shape[1]))
        for i, block in enumerate(self.h):
            x = block(x, mask, None if prefix is None else prefix[i])
        return F.linear(self.ln_f(x[:, x.shape[1] - ids.shape[1]:]), self.wte.weight)  # tied head


def sequence(embeds, prompt, prefix):
    """PEFT's prompt learning around a decoder: the embeddings (with prompt tuning's virtual tokens
    (P, d) ahead of every row), the position of the first one (P under prefix tuning, as Hugging
    Face numbers positions after past_key_values), and the attention mask (S, P+S)."""
    b, s, _ = embeds.shape
    if prompt is not None:
        embeds = torch.cat((prompt.expand(b, -1, -1), embeds), dim=1)
        s += prompt.shape[0]
    p = 0 if prefix is None else prefix[0][0].shape[1]
    mask = torch.ones(s, s, dtype=torch.bool).tril()
    return embeds, p, torch.cat((torch.ones(s, p, dtype=torch.bool), mask), dim=1)


def with_prefix(k, v, prefix):
    """Prefix tuning: one layer's trained keys and values (H, P, hd) ahead of every row's own."""
    if prefix is None:
        return k, v
    b = k.shape[0]
    pk, pv = prefix
    return (torch.cat((pk.expand(b, -1, -1, -1), k), dim=2),
            torch.cat((pv.expand(b, -1, -1, -1), v), dim=2))


def prefixes(table, layers, heads):
    """PEFT's past_key_values from its table (P, L*2*heads*hd): per layer (key, value), each
    (heads, P, hd), the flat last axis laid out [L0.key | L0.value | L1.key | ...]."""
    p = table.shape[0]
    kv = table.view(p, layers * 2, heads, -1).permute(1, 2, 0, 3)  # (L*2, heads, P, hd)
    return [(kv[2 * i], kv[2 * i + 1]) for i in range(layers)]


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, inter = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        hd = d // self.heads
        eps = c.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RmsNorm(d, eps)
        self.q_proj = nn.Linear(d, self.heads * hd, bias=False)
        self.k_proj = nn.Linear(d, self.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, self.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(self.heads * hd, d, bias=False)
        self.post_attention_layernorm = RmsNorm(d, eps)
        self.gate_proj = nn.Linear(d, inter, bias=False)
        self.up_proj = nn.Linear(d, inter, bias=False)
        self.down_proj = nn.Linear(inter, d, bias=False)

    def forward(self, x, mask, cos, sin, prefix=None):
        b, s, d = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, s, self.heads, -1).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kv_heads, -1).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kv_heads, -1).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = with_prefix(k, v, prefix)  # prefix keys as past_key_values: already rotated
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        a = causal_attention(q, k, v, mask).transpose(1, 2).reshape(b, s, -1)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.theta = c.get("rope_theta", 10000.0)
        self.head_dim = d // c["num_attention_heads"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        self.layers = nn.ModuleList(LlamaBlock(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RmsNorm(d, c.get("rms_norm_eps", 1e-6))
        self.lm_head = nn.Linear(d, c["vocab_size"], bias=False)

    def forward(self, ids, prompt=None, prefix=None):
        x, n, mask = sequence(self.embed_tokens(ids), prompt, prefix)
        s = x.shape[1]
        inv = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        freqs = torch.outer(torch.arange(n, n + s).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cos, sin, None if prefix is None else prefix[i])
        return self.lm_head(self.norm(x[:, s - ids.shape[1]:]))


class PromptLearning(nn.Module):
    """PEFT's prompt tuning (a trained (P, d) table ahead of the input embeddings) or prefix
    tuning (a trained (P, L*2*kv_heads*hd) table of every layer's keys and values), both N(0, 1)
    as nn.Embedding, around a frozen model; logits of the real positions only."""

    def __init__(self, model, config, kind):
        super().__init__()
        self.model, self.kind = model, kind
        gpt2 = isinstance(model, Gpt2)
        layers = config.get("n_layer", 12) if gpt2 else config["num_hidden_layers"]
        d = config.get("n_embd", 768) if gpt2 else config["hidden_size"]
        heads = config.get("n_head", 12) if gpt2 else config["num_attention_heads"]
        kv_heads = heads if gpt2 else config.get("num_key_value_heads", heads)
        self.layers, self.kv_heads = layers, kv_heads
        width = d if kind == "prompt-tuning" else layers * 2 * kv_heads * (d // heads)
        self.table = nn.Parameter(torch.randn(VIRTUAL_TOKENS, width))

    def forward(self, ids):
        if self.kind == "prompt-tuning":
            return self.model(ids, prompt=self.table)
        return self.model(ids, prefix=prefixes(self.table, self.layers, self.kv_heads))


def targets(model, workload):
    """(parent, attribute) of the Linear modules LoRA adapts, as Graft's lora picks them."""
    gpt2 = isinstance(model, Gpt2)
    if workload in ("lora-qv", "delta-lora-qv", "moelora-qv", "lora-drop-qv", "dora", "dora-expanded", "lora-dpo"):
        names = ["c_attn"] if gpt2 else ["q_proj", "v_proj"]
    else:
        names = (
            ["c_attn", "c_proj", "c_fc", "mlp_c_proj"]
            if gpt2
            else ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        )
    blocks = model.h if gpt2 else model.layers
    return [(b, n) for b in blocks for n in names]


def build(config, workload):
    arch = config["architectures"][0]
    model = Gpt2(config) if arch == "GPT2LMHeadModel" else Llama(config)
    for p in model.parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, std=0.02)
    if workload == "full":
        return model
    for p in model.parameters():
        p.requires_grad_(False)
    # lora-drop-qv trains lora-qv here: sharing one pair among layers changes no step's compute.
    # qlora: PyTorch on the CPU has no 4-bit kernels (bitsandbytes is GPU-first and not installed);
    # its row is LoRA all-linear on float32 weights, the compute a dequantised weight costs.
    lora_like = ("lora-qv", "lora-all", "qlora", "qlora-prequantised", "delta-lora-qv", "moelora-qv", "lora-drop-qv", "dora", "dora-expanded", "lora-dpo")
    if workload in lora_like:
        layer = {"moelora-qv": MoeLoraLinear, "dora": DoraLinear, "dora-expanded": DoraLinear}.get(
            workload, LoraLinear
        )
        for parent, name in targets(model, workload):
            setattr(parent, name, layer(getattr(parent, name), r=8, alpha=16))
    if workload == "adalora":
        for parent, name in targets(model, "lora-qv"):
            setattr(parent, name, AdaLoraLinear(getattr(parent, name), r=12, alpha=16))
    if workload == "adapter":
        gpt2 = isinstance(model, Gpt2)
        outputs = ["c_proj", "mlp_c_proj"] if gpt2 else ["o_proj", "down_proj"]
        for block in model.h if gpt2 else model.layers:
            for name in outputs:
                setattr(block, name, BottleneckAfter(getattr(block, name)))
    if workload == "bitfit":
        # Every linear of every block gets a trained bias (zero where it had none), and GPT-2's
        # LayerNorm biases train too.
        for parent, name in targets(model, "lora-all"):
            linear = getattr(parent, name)
            if linear.bias is None:
                linear.bias = nn.Parameter(torch.zeros(linear.out_features))
            linear.bias.requires_grad_(True)
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.bias.requires_grad_(True)
    if workload in ("prompt-tuning", "prefix-tuning"):
        return PromptLearning(model, config, workload)
    return model


def delta_step(model, ratio=2.0):
    """Delta-LoRA (update_start_step 0) as the paper writes it: W carried and moved after every
    step by ratio * s * (B A - B' A'), B' A' the product before the step (0 at the start)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoraLinear):
                ba = m.lora_B @ m.lora_A
                before = getattr(m, "before", None)
                m.base.weight += ratio * m.scale * (ba - (0 if before is None else before))
                m.before = ba


class Lockstep:
    """With --lockstep (bench/interleave.py): READY after setup, then one step per STEP line on
    stdin, answered with DONE <seconds>, so that Graft and PyTorch steps alternate."""

    def __init__(self, on):
        self.on = on

    def ready(self):
        if self.on:
            print("READY", flush=True)

    def wait(self):
        if self.on:
            line = sys.stdin.readline().strip()
            if line != "STEP":
                raise SystemExit(f"expected STEP on stdin, got {line!r}")

    def done(self, seconds):
        if self.on:
            print(f"DONE {seconds}", flush=True)


def sequence_logps(logits, labels):
    """Per-row sums of log p(label) over the labelled positions, (B)."""
    mask = labels != -100
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def dpo_loss(model, ids, labels, logits, beta=0.1):
    """Sigmoid DPO over row pairs (2i chosen, 2i+1 rejected); the reference is the model with
    every LoRA disabled, run without gradients."""
    lora = [m for m in model.modules() if isinstance(m, LoraLinear)]
    with torch.no_grad():
        for m in lora:
            m.enabled = False
        ref = sequence_logps(model(ids), labels)
        for m in lora:
            m.enabled = True
    ratio = sequence_logps(logits, labels) - ref
    h = ratio[0::2] - ratio[1::2]
    return -F.logsigmoid(beta * h).mean()


def row(args):
    with open(f"{args.dir}/config.json") as f:
        config = json.load(f)
    torch.manual_seed(7)
    model = build(config, args.workload)
    vocab = config["vocab_size"]
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(0, vocab, (args.batch, args.seq), generator=gen)
    labels = torch.cat([ids[:, 1:], torch.full((args.batch, 1), -100)], dim=1)
    times = []
    control = Lockstep(args.lockstep)
    t0 = time.perf_counter()
    if args.workload == "infer":
        model.eval()
        setup = time.perf_counter() - t0
        control.ready()
        with torch.no_grad():
            for s in range(args.warmup + args.steps):
                control.wait()
                t = time.perf_counter()
                logits = model(ids)
                assert logits.shape == (args.batch, args.seq, vocab)
                dt = time.perf_counter() - t
                control.done(dt)
                if s >= args.warmup:
                    times.append(dt)
    else:
        opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=1e-4,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.0,
        )
        adalora = [m for m in model.modules() if isinstance(m, AdaLoraLinear)]
        allocator = RankAllocator(adalora, 8, args.warmup + args.steps) if adalora else None
        setup = time.perf_counter() - t0
        control.ready()
        for s in range(args.warmup + args.steps):
            control.wait()
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            logits = model(ids)
            if args.workload == "lora-dpo":
                loss = dpo_loss(model, ids, labels, logits)
            else:
                loss = F.cross_entropy(logits.view(-1, vocab), labels.view(-1), ignore_index=-100)
            if allocator is not None:
                loss = loss + 0.5 * orthogonality(allocator.layers)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], 1.0
            )
            opt.step()
            if allocator is not None:
                allocator.step(s)
            if args.workload == "delta-lora-qv":
                delta_step(model)
            value = loss.item()
            dt = time.perf_counter() - t
            control.done(dt)
            assert math.isfinite(value)
            if s >= args.warmup:
                times.append(dt)
    out = {
        "framework": "pytorch",
        "workload": args.workload,
        "batch": args.batch,
        "seq": args.seq,
        "threads": torch.get_num_threads(),
        "warmup": args.warmup,
        "steps": args.steps,
        "setup_s": round(setup, 4),
        "step_s": [round(t, 4) for t in times],
        "tokens_per_s": round(args.batch * args.seq * args.steps / sum(times), 4),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "params": params,
        "trainable_params": trainable,
        "weights_bytes": 4 * params,
        **blas_in_use(),
    }
    print("RESULT " + json.dumps(out), flush=True)


def gemm(args):
    n = args.n
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for i in range(args.repeats + 2):
        t = time.perf_counter()
        a @ b
        if i >= 2:
            best = min(best, time.perf_counter() - t)
    out = {
        "framework": "pytorch",
        "gemm_n": n,
        "threads": torch.get_num_threads(),
        "best_s": round(best, 4),
        "gflops": round(2 * n**3 / best / 1e9, 2),
        **blas_in_use(),
    }
    print("RESULT " + json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["row", "gemm", "blas"])
    p.add_argument("--dir")
    p.add_argument(
        "--workload",
        choices=[
            "lora-qv", "lora-all", "full", "infer", "adalora", "adapter", "bitfit",
            "prompt-tuning", "prefix-tuning", "delta-lora-qv", "moelora-qv", "lora-drop-qv",
            "dora", "dora-expanded", "qlora", "qlora-prequantised", "lora-dpo",
        ],
    )
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--lockstep", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.command == "row":
        row(args)
    elif args.command == "gemm":
        gemm(args)
    else:
        print(json.dumps(blas_in_use(), indent=1))


if __name__ == "__main__":
    sys.exit(main())
