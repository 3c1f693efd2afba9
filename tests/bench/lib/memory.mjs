// Peak memory of the browser while an engine runs: the proportional set size
// (PSS, so memory shared between Chromium's processes is counted once) of
// every process this Node process started, summed, sampled every `everyMs`.
// It covers the page, its Workers and the GPU process, where SwiftShader keeps
// GPU buffers, so it compares engines whatever they keep where. Linux only.
import { readdirSync, readFileSync } from 'node:fs';

function children() {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) comes after the ")" that ends the command name.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!mine.has(pid) && mine.has(ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  mine.delete(process.pid);
  return [...mine];
}

function pssBytes(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Sum of the PSS of this process's descendants, now. */
export function descendantsPss() {
  return children().reduce((sum, pid) => sum + pssBytes(pid), 0);
}

/** Samples until `stop()`; `stop()` returns `{ baseline_bytes, peak_bytes }`. */
export function sampleMemory(everyMs = 500) {
  const baseline = descendantsPss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, descendantsPss());
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, descendantsPss());
      return { baseline_bytes: baseline, peak_bytes: peak };
    },
  };
}
