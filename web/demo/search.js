// The private-search demo: embeds pasted paragraphs and a query with
// all-MiniLM-L6-v2 on the GPU and ranks the paragraphs (engine.rerank).
import { createEngine } from '../../pkg/dist/index.js';
import { $, setState } from './common.js';

const MODEL_URL = new URLSearchParams(location.search).get('model') ?? '../../models/all-MiniLM-L6-v2/';
const state = (window.navajaSearch = { ready: false, error: null, results: null });

async function rank(engine) {
  const documents = $('paragraphs').value.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  const query = $('query').value.trim();
  if (!query || documents.length === 0) return;
  $('rank').disabled = true;
  try {
    const { results } = await engine.rerank({ query, documents });
    state.results = results;
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
    setState($('status'), 'ok', `Ready: ${info.name ?? info.architecture} (${info.loaded_from})`);
  } catch (error) {
    // Until the web engine has the BERT encoder this says so (unsupported-model).
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
