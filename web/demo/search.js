// The private-search demo: embeds pasted paragraphs and a query with
// all-MiniLM-L6-v2 on the GPU and ranks the paragraphs (engine.rerank).
import { createEngine } from '../../pkg/dist/index.js';
import { $, setState } from './common.js';

const MODEL_URL = new URLSearchParams(location.search).get('model') ?? '../../models/all-MiniLM-L6-v2/';
const state = (window.navajaSearch = { ready: false, error: null, results: null, ranks: 0, model: null, loadedFrom: null });

async function rank(engine) {
  const documents = $('paragraphs').value.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  const query = $('query').value.trim();
  if (!query || documents.length === 0) return;
  $('rank').disabled = true;
  try {
    const start = performance.now();
    const { results, usage } = await engine.rerank({ query, documents });
    const ms = performance.now() - start;
    state.results = results;
    state.ranks += 1;
    setState(
      $('status'),
      'ok',
      `Ranked ${documents.length} paragraphs in ${ms.toFixed(0)} ms (${usage.prompt_tokens} tokens, ` +
        `${((documents.length + 1) / (ms / 1000)).toFixed(1)} texts/s) with ${state.model}, on this device.`,
    );
    $('results').replaceChildren(...results.map((r) => {
      const li = document.createElement('li');
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = r.relevance_score.toFixed(3);
      li.append(score, r.document);
      return li;
    }));
  } catch (error) {
    setState($('status'), 'error', `${error.code}: ${error.message}`);
  } finally {
    $('rank').disabled = false;
  }
}

async function main() {
  let engine;
  try {
    engine = await createEngine();
    setState($('status'), 'pending', 'Loading all-MiniLM-L6-v2…');
    const info = await engine.load(MODEL_URL);
    state.model = info.name ?? info.architecture;
    state.loadedFrom = info.loaded_from;
    const from = info.loaded_from === 'cache' ? "from this browser's cache" : `from ${info.loaded_from}`;
    setState($('status'), 'ok', `Ready: ${state.model}, ${info.dim} dimensions (${from}, ${info.load_ms.toFixed(0)} ms)`);
  } catch (error) {
    setState($('status'), 'error', `${error.code ?? 'error'}: ${error.message}`);
    state.error = { code: error.code, message: error.message };
    return;
  }
  $('rank').disabled = false;
  $('rank').onclick = () => rank(engine);
  state.ready = true;
  await rank(engine);
}

main();
