// The offline chat demo: SmolLM2-135M-Instruct, served from this machine,
// run by navaja on the GPU, answers streamed token by token.
// `?model=URL` loads another GGUF chat model.
import { createEngine } from '../../pkg/dist/index.js';
import { $, setState, showAdapter, formatBytes } from './common.js';

const params = new URLSearchParams(location.search);
const MODEL_URL = params.get('model') ?? '../../models/SmolLM2-135M-Instruct.Q4_1.gguf';
// The file's SHA-256 (scripts/models.json): navaja checks it before using the model.
const MODEL_SHA256 = params.has('model') ? undefined : 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';

// Read by the browser test (web/tests/demo.test.mjs).
const state = (window.navajaDemo = { ready: false, error: null, model: null, turns: [] });

let engine;
let history = [];
let controller = null;

function addMessage(role, text = '') {
  const li = document.createElement('li');
  li.className = role;
  li.textContent = text;
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
  return li;
}

function busy(running) {
  $('send').disabled = running;
  $('prompt').disabled = running;
  $('clear').disabled = running;
  $('stop').disabled = !running;
}

async function send(text) {
  addMessage('user', text);
  const bubble = addMessage('assistant');
  bubble.classList.add('streaming');
  const system = $('system').value.trim();
  const messages = [...(system ? [{ role: 'system', content: system }] : []), ...history, { role: 'user', content: text }];
  controller = new AbortController();
  busy(true);
  const turn = { prompt: text, text: '', chunks: 0, finish: null, timings: null, error: null };
  const started = performance.now();
  let firstAt = null;
  try {
    const chunks = await engine.chat.completions.create({
      messages,
      stream: true,
      max_tokens: Number($('max-tokens').value) || 128,
      temperature: Number($('temperature').value),
      signal: controller.signal,
    });
    for await (const chunk of chunks) {
      const delta = chunk.choices[0]?.delta.content ?? '';
      if (delta) {
        firstAt ??= performance.now();
        turn.chunks += 1;
        turn.text += delta;
        bubble.textContent = turn.text;
        const seconds = (performance.now() - firstAt) / 1000;
        $('stats').textContent =
          `${turn.chunks} tokens` + (seconds > 0 && turn.chunks > 1 ? ` · ${((turn.chunks - 1) / seconds).toFixed(2)} tokens/s` : '');
      }
      if (chunk.navaja) {
        turn.finish = chunk.choices[0].finish_reason;
        turn.timings = chunk.navaja.timings;
        turn.usage = chunk.usage;
        const t = chunk.navaja.timings;
        $('stats').textContent =
          `${chunk.usage.completion_tokens} tokens · ${t.decode_tokens_per_s.toFixed(2)} tokens/s · ` +
          `prompt ${chunk.usage.prompt_tokens} tokens (${chunk.navaja.cached_tokens} reused) in ${(t.prefill_ms / 1000).toFixed(1)} s · ` +
          `first token after ${((firstAt ?? performance.now()) - started).toFixed(0)} ms`;
      }
    }
  } catch (error) {
    turn.error = { code: error.code, message: error.message };
    if (error.code === 'aborted') {
      turn.finish = 'aborted';
      bubble.dataset.note = 'stopped';
    } else {
      bubble.dataset.state = 'error';
      bubble.textContent = `${turn.text}\n[${error.code}: ${error.message}]`;
    }
  } finally {
    bubble.classList.remove('streaming');
    controller = null;
    busy(false);
    $('prompt').focus();
  }
  // The conversation carries on from what was shown, even a stopped answer;
  // the engine reuses its cached prefix, so the next turn only computes the new message.
  history.push({ role: 'user', content: text }, { role: 'assistant', content: turn.text.trim() });
  state.turns.push(turn);
}

async function main() {
  try {
    // 'auto': WebGPU on a GPU; the CPU backend without WebGPU or on a software adapter (?backend=webgpu|cpu to choose).
    engine = await createEngine({ backend: params.get('backend') ?? 'auto' });
  } catch (error) {
    setState($('status'), 'error', `${error.code ?? 'error'}: ${error.message}`);
    state.error = { code: error.code, message: error.message };
    return;
  }
  showAdapter(engine.adapter);
  setState($('status'), 'pending', 'Loading the model…');
  const bar = $('progress');
  bar.hidden = false;
  try {
    const info = await engine.load(MODEL_URL, {
      integrity: MODEL_SHA256,
      onProgress({ phase, loaded, total }) {
        if (total) bar.value = loaded / total;
        const what = { download: 'Downloading', cache: 'Reading from the cache', read: 'Reading', init: 'Setting up', ready: 'Ready' }[phase];
        setState($('status'), 'pending', `${what}: ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}`);
      },
    });
    bar.hidden = true;
    state.model = info;
    setState($('status'), 'ok', `Ready (${info.loaded_from === 'cache' ? 'from this browser\'s cache' : 'downloaded and cached'}, ${(info.load_ms / 1000).toFixed(1)} s)`);
    $('model').textContent =
      `${info.name ?? info.architecture}: ${info.n_layers} layers, ${formatBytes(info.weight_bytes)} of weights on the GPU, ` +
      `context ${info.context_length} tokens, SHA-256 ${info.sha256.slice(0, 12)}…`;
  } catch (error) {
    bar.hidden = true;
    setState($('status'), 'error', `${error.code}: ${error.message}`);
    state.error = { code: error.code, message: error.message };
    return;
  }
  $('chat-form').onsubmit = (event) => {
    event.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || controller) return;
    $('prompt').value = '';
    send(text);
  };
  $('prompt').onkeydown = (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      $('chat-form').requestSubmit();
    }
  };
  $('stop').onclick = () => controller?.abort();
  $('clear').onclick = () => {
    history = [];
    $('messages').replaceChildren();
    $('stats').textContent = '';
  };
  busy(false);
  $('prompt').focus();
  state.ready = true;
}

main();
