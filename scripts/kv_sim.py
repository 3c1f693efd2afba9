"""Numpy simulator of navaja's quantized KV cache (llama-architecture GGUF, e.g.
SmolLM2-135M): teacher forcing with an f32 cache and with simulated q8/q4 caches,
printing top-1 agreement and mean KL per configuration. Row t reads positions
below qend(t) = floor((t - R) / 32) * 32 quantized and the others as f16, as a
navaja decode step does; `exact_lo` keeps the first positions f16.

This is how the cache's design was chosen (docs/KV_CACHE.md); it reproduced the
GPU's q4 figure to the token. Not run by the tests.

  ./target/release/navaja tokenize --model models/SmolLM2-135M-Instruct.Q4_1.gguf --json \
      "$(cat tests/fixtures/text/alice-chapter1.txt)" > /tmp/ids.json
  PYTHONPATH=~/.cache/navaja/pydeps python3 scripts/kv_sim.py \
      models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/ids.json 1000 q4_R128,q4_R128_exact32
"""
import json, sys, time
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

r = GGUFReader(sys.argv[1])
F = {k: f.contents() for k, f in r.fields.items() if k.startswith('llama.')}
def load(t):
    a = dequantize(t.data, t.tensor_type).astype(np.float32)
    return a.reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else a.reshape(-1)
W = {t.name: load(t) for t in r.tensors}
D = F['llama.embedding_length']; H = F['llama.attention.head_count']
KV = F['llama.attention.head_count_kv']; L = F['llama.block_count']; hd = D // H
eps = F['llama.attention.layer_norm_rms_epsilon']; base = F['llama.rope.freq_base']
T = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
ids = json.load(open(sys.argv[2]))['ids'][:T]

def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
def rope(x, pos):
    inv = base ** (-np.arange(0, hd, 2) / hd); ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x); out[..., 0::2] = x0 * c - x1 * s; out[..., 1::2] = x0 * s + x1 * c
    return out
f16 = lambda x: x.astype(np.float16).astype(np.float32)

def q4_asym(x, axis):
    # blocks along `axis` (already shaped so that axis has 32 values)
    m = f16(x.min(axis, keepdims=True)); M = x.max(axis, keepdims=True)
    d = f16((M - m) / 15.0); dd = np.where(d == 0, 1, d)
    q = np.clip(np.round((x - m) / dd), 0, 15)
    return d * q + m

def q8_sym(x):  # per position, blocks of 32 channels
    Tn, w = x.shape; b = x.reshape(Tn, w // 32, 32)
    d = f16(np.abs(b).max(-1, keepdims=True) / 127.0); dd = np.where(d == 0, 1, d)
    return (d * np.clip(np.round(b / dd), -127, 127)).reshape(Tn, w)

def quant_keys(k, mode):  # k: (T, width) f16-rounded; q4: per channel over groups of 32 positions
    if mode['kv'] == 'q8': return q8_sym(k)
    Tn, w = k.shape; G = (Tn + 31) // 32 * 32
    kp = np.zeros((G, w), np.float32); kp[:Tn] = k
    g = kp.reshape(G // 32, 32, w)
    return q4_asym(g, 1).reshape(G, w)[:Tn]

def quant_values(v, rot=None):
    Tn, w = v.shape
    x = v if rot is None else v.reshape(Tn, -1, 32) @ rot
    b = x.reshape(Tn, w // 32, 32)
    out = q4_asym(b, 2)
    if rot is not None: out = out @ rot.T
    return out.reshape(Tn, w)

def hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n: h = np.block([[h, h], [h, -h]])
    return (h / np.sqrt(n)).astype(np.float32)

def forward(cfg):
    x = W['token_embd.weight'][ids]; pos = np.arange(T, dtype=np.float64)
    t = np.arange(T)
    R = cfg.get('R', 0); exact_lo = cfg.get('exact_lo', 0)
    for l in range(L):
        p = f'blk.{l}.'; h = rms(x, W[p + 'attn_norm.weight'])
        q = (h @ W[p + 'attn_q.weight'].T).reshape(T, H, hd)
        k = (h @ W[p + 'attn_k.weight'].T).reshape(T, KV, hd)
        v = (h @ W[p + 'attn_v.weight'].T).reshape(T, KV, hd)
        q = rope(q, pos); k = rope(k, pos)
        kf = k.reshape(T, -1); vf = v.reshape(T, -1)
        if cfg['kv'] == 'f32':
            kq, vq, ke, ve = kf, vf, kf, vf
        else:
            ke, ve = f16(kf), f16(vf)
            kq = quant_keys(ke, cfg) if cfg.get('qk', True) else ke
            vq = (q8_sym(ve) if cfg['kv'] == 'q8' else quant_values(ve, cfg.get('rot'))) if cfg.get('qv', True) else ve
            if exact_lo:
                kq = kq.copy(); vq = vq.copy(); kq[:exact_lo] = ke[:exact_lo]; vq[:exact_lo] = ve[:exact_lo]
        rep = H // KV
        def heads(a): return np.repeat(a.reshape(T, KV, hd), rep, 1)
        sq = np.einsum('thd,shd->hts', q, heads(kq)); se = np.einsum('thd,shd->hts', q, heads(ke))
        # row t: positions s < qend(t) quantized; qend(t) = floor((t - R)/32)*32 (decode semantics)
        qend = np.maximum((t - R) // 32 * 32, 0)
        useq = (np.arange(T)[None, :] < qend[:, None])
        a = np.where(useq[None], sq, se) / np.sqrt(hd)
        a = a + np.triu(np.full((T, T), -np.inf), 1)
        a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
        aq = np.where(useq[None], a, 0); ae = a - aq
        o = np.einsum('hts,shd->thd', aq, heads(vq)) + np.einsum('hts,shd->thd', ae, heads(ve))
        x = x + o.reshape(T, D) @ W[p + 'attn_output.weight'].T
        h = rms(x, W[p + 'ffn_norm.weight'])
        g = h @ W[p + 'ffn_gate.weight'].T; u = h @ W[p + 'ffn_up.weight'].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + 'ffn_down.weight'].T
    x = rms(x, W['output_norm.weight']); out = W.get('output.weight', W['token_embd.weight'])
    z = x @ out.T
    z = z - z.max(-1, keepdims=True); lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return lp[:-1]

base_lp = forward({'kv': 'f32'})
bt = base_lp.argmax(-1)
configs = {
  'q4_R128': {'kv': 'q4', 'R': 128},
  'q4_R128_exact32': {'kv': 'q4', 'R': 128, 'exact_lo': 32},
  'q4_R128_exact4': {'kv': 'q4', 'R': 128, 'exact_lo': 4},
  'q4_R64_exact32': {'kv': 'q4', 'R': 64, 'exact_lo': 32},
  'q4_R32_exact32': {'kv': 'q4', 'R': 32, 'exact_lo': 32},
  'q8_R32_exact32': {'kv': 'q8', 'R': 32, 'exact_lo': 32},
  'q8_R32': {'kv': 'q8', 'R': 32},
  'q4_R128_keys_only': {'kv': 'q4', 'R': 128, 'qv': False},
  'q4_R128_values_only': {'kv': 'q4', 'R': 128, 'qk': False},
}
sel = sys.argv[4].split(',') if len(sys.argv) > 4 else list(configs)
for name in sel:
    t0 = time.time(); lp = forward(configs[name])
    agree = (lp.argmax(-1) == bt).mean(); kl = (np.exp(base_lp) * (base_lp - lp)).sum(-1).mean()
    print(json.dumps({'config': name, 'top1': float(agree), 'kl': float(kl), 's': round(time.time() - t0, 1)}), flush=True)
