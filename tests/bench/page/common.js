// Shared by the in-page engine adapters: the same prose, the same batch of
// texts and the same streaming clock for every engine.

/** `n` consecutive `words`-word pieces of `prose`, wrapping around (as `navaja bench-embed` makes them). */
export function texts(prose, n, words) {
  const all = prose.split(/\s+/).filter(Boolean);
  return Array.from({ length: n }, (_, i) => Array.from({ length: words }, (_, w) => all[(i * words + w) % all.length]).join(' '));
}

/**
 * Times a streamed generation by one wall clock for every engine. `start(onChunk)`
 * begins it, calls `onChunk()` for every streamed piece and resolves to
 * `{ completion_tokens, ... }` (the engine's own count, since a piece can
 * hold more than one token). Time to first token runs from the call to the
 * first piece; decode speed runs from the first piece to the last, so it
 * leaves prefill out.
 */
export async function timeStream(start) {
  const t0 = performance.now();
  const stamps = [];
  const result = await start(() => stamps.push(performance.now()));
  const end = performance.now();
  const n = result.completion_tokens;
  if (!(n >= 2) || stamps.length < 2) throw new Error(`the engine generated ${n} tokens in ${stamps.length} pieces; need at least 2`);
  return {
    ...result,
    ttft_ms: stamps[0] - t0,
    total_ms: end - t0,
    decode_tokens_per_s: (n - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000),
  };
}

export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}
