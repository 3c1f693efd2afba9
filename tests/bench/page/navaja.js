// navaja through its npm package (pkg/dist), as a web developer calls it:
// createEngine() (a Web Worker), load(url), the OpenAI-style streaming API.
import { median, texts, timeStream } from './common.js';

async function loadTimed(navaja, url, options, backend = 'webgpu') {
  const t0 = performance.now();
  const engine = await navaja.createEngine({ backend });
  const info = await engine.load(url, { cache: 'none', ...options });
  return { engine, info, load_ms: performance.now() - t0 };
}

/** Load, one untimed 1-token warm-up (compiles the pipelines), then one timed greedy run. */
export async function llm({ modelUrl, prompt, decodeTokens, kv, backend }) {
  const navaja = await import('/pkg/dist/index.js');
  const { engine, info, load_ms } = await loadTimed(navaja, modelUrl, { kv }, backend);
  const w0 = performance.now();
  await engine.completions.create({ prompt: 'Hello', max_tokens: 1, temperature: 0 });
  const warmup_ms = performance.now() - w0;
  let last;
  const run = await timeStream(async (onChunk) => {
    const stream = await engine.completions.create({ prompt, max_tokens: decodeTokens, temperature: 0, stream: true });
    for await (const chunk of stream) {
      if (chunk.choices?.[0]?.text) onChunk();
      last = chunk;
    }
    const usage = last?.usage;
    const timings = last?.navaja?.timings;
    return {
      prompt_tokens: usage?.prompt_tokens,
      completion_tokens: usage?.completion_tokens,
      engine_prefill_tokens_per_s: timings?.prefill_tokens_per_s,
      engine_decode_tokens_per_s: timings?.decode_tokens_per_s,
      prefill_ms: timings?.prefill_ms,
    };
  });
  await engine.dispose();
  return {
    ...run,
    load_ms,
    warmup_ms,
    prefill_tokens_per_s: run.prompt_tokens / (run.prefill_ms / 1000),
    config:
      engine.adapter?.backend === 'cpu'
        ? `CPU backend (${engine.adapter.name}), kv ${info.kv}`
        : `webgpu (${engine.adapter?.browser?.description || engine.adapter?.name || 'adapter'}), kv ${info.kv}`,
    kv: info.kv,
    kv_bytes_per_token: info.kv_bytes_per_token,
    weight_bytes: info.weight_bytes,
  };
}

/** Load, one untimed small batch (compiles the pipelines), then `repeats` timed batches. */
export async function embed({ modelUrl, prose, batch, words, repeats, warmup, backend }) {
  const navaja = await import('/pkg/dist/index.js');
  const { engine, load_ms } = await loadTimed(navaja, modelUrl, {}, backend);
  const input = texts(prose, batch, words);
  const first = await engine.embeddings.create({ input: input.slice(0, warmup) });
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await engine.embeddings.create({ input });
    times.push(performance.now() - t0);
  }
  await engine.dispose();
  return {
    load_ms,
    batch_ms: times,
    texts_per_s: batch / (median(times) / 1000),
    tokens: first.usage?.prompt_tokens,
    sample: first.data[0].embedding.slice(0, 8),
    embeddings: [first.data[0].embedding, first.data[1].embedding],
    config:
      engine.adapter?.backend === 'cpu'
        ? `CPU backend (${engine.adapter.name}), f32 weights (safetensors) as 12-bit blocks`
        : 'webgpu, f32 weights (safetensors)',
  };
}
