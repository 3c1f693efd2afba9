#!/usr/bin/env python3
"""Teacher-forced top-1 agreement between navaja and an independent numpy forward pass.

The reference dequantizes every tensor of a Llama-architecture GGUF with the
`gguf` PyPI package and runs the model in plain float32 numpy, the same math
as tests/fixtures/reference/smollm2_numpy.py but keeping the logits of every
position. navaja runs the same token ids through `navaja score` (on the
default wgpu adapter). At each position both predict the next token; the
agreement is the fraction of positions where their top-1 tokens are equal.

Usage: PYTHONPATH=$NAVAJA_PYDEPS python3 scripts/teacher_forcing.py \
           --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
           --text-file tests/fixtures/text/alice-chapter1.txt --tokens 256
Prints one JSON object; exits 1 when the agreement is below --min-agreement.
"""
import argparse
import json
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def load_model(path):
    r = GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    if arch != "llama":
        raise SystemExit(f"this reference implements the llama architecture, not {arch}")
    f = {k: r.fields[k].contents() for k in r.fields if k.startswith("llama.")}

    def load(t):
        a = dequantize(t.data, t.tensor_type).astype(np.float32)
        return a.reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else a.reshape(-1)

    return f, {t.name: load(t) for t in r.tensors}


def forward_all(f, w, ids):
    """Logits after every token of `ids` (T x vocab), float32."""
    d = f["llama.embedding_length"]
    h_n = f["llama.attention.head_count"]
    kv_n = f["llama.attention.head_count_kv"]
    layers = f["llama.block_count"]
    hd = d // h_n
    eps = f["llama.attention.layer_norm_rms_epsilon"]
    base = f.get("llama.rope.freq_base", 10000.0)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, pos):  # ggml "normal" ordering: adjacent pairs
        inv = base ** (-np.arange(0, hd, 2) / hd)
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    t_n = len(ids)
    x = w["token_embd.weight"][ids]
    pos = np.arange(t_n, dtype=np.float64)
    mask = np.triu(np.full((t_n, t_n), -np.inf, dtype=np.float32), 1)
    for layer in range(layers):
        p = f"blk.{layer}."
        h = rms(x, w[p + "attn_norm.weight"])
        q = rope((h @ w[p + "attn_q.weight"].T).reshape(t_n, h_n, hd), pos)
        k = rope((h @ w[p + "attn_k.weight"].T).reshape(t_n, kv_n, hd), pos)
        v = (h @ w[p + "attn_v.weight"].T).reshape(t_n, kv_n, hd)
        k = np.repeat(k, h_n // kv_n, 1)
        v = np.repeat(v, h_n // kv_n, 1)
        a = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", a, v).reshape(t_n, d)
        x = x + o @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"])
        g = h @ w[p + "ffn_gate.weight"].T
        u = h @ w[p + "ffn_up.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + "ffn_down.weight"].T
    x = rms(x, w["output_norm.weight"])
    return x @ w.get("output.weight", w["token_embd.weight"]).T


def run_navaja(navaja, args):
    out = subprocess.run([navaja, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"navaja {' '.join(args[:1])} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--text-file", required=True)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--navaja", default="target/debug/navaja")
    ap.add_argument("--min-agreement", type=float, default=0.99)
    a = ap.parse_args()

    text = open(a.text_file, encoding="utf-8").read()
    ids = run_navaja(a.navaja, ["tokenize", "--model", a.model, "--json", text])["ids"][: a.tokens]
    if len(ids) < a.tokens:
        raise SystemExit(f"the text has only {len(ids)} tokens")
    ours = run_navaja(a.navaja, ["score", "--model", a.model, "--ids", " ".join(map(str, ids))])

    f, w = load_model(a.model)
    logits = forward_all(f, w, ids)
    ref_top1 = logits.argmax(-1)
    our_top1 = np.array(ours["argmax"])
    agree = ref_top1 == our_top1
    mismatches = []
    for i in np.nonzero(~agree)[0]:
        row = logits[i]
        mismatches.append({
            "position": int(i),
            "reference": int(ref_top1[i]),
            "navaja": int(our_top1[i]),
            # How close the reference itself was between the two tokens.
            "reference_margin": float(row[ref_top1[i]] - row[our_top1[i]]),
        })
    # Reference perplexity over the same tokens, next to navaja's.
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    nll = -(logits[np.arange(len(ids) - 1), ids[1:]] - lse[:-1]).mean()
    result = {
        "model": a.model,
        "tokens": len(ids),
        "top1_agreement": float(agree.mean()),
        "mismatches": mismatches,
        "perplexity_navaja": ours["perplexity"],
        "perplexity_reference": float(np.exp(nll)),
    }
    print(json.dumps(result))
    sys.exit(0 if result["top1_agreement"] >= a.min_agreement else 1)


if __name__ == "__main__":
    main()
