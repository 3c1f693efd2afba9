// Launching Debian's Chromium for the browser tests, with SwiftShader as the
// WebGPU adapter (these machines have no GPU). The flags are the ones
// ../shared/ENVIRONMENT.md verified headless, as root, with no network.
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.NAVAJA_CHROMIUM ?? '/usr/bin/chromium';

const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];

const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-angle=swiftshader',
  '--disable-vulkan-surface',
];

/** Chromium with WebGPU on SwiftShader (or, with `webgpu: false`, without WebGPU). */
export function launchBrowser({ webgpu = true } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: webgpu ? [...QUIET_FLAGS, ...WEBGPU_FLAGS] : QUIET_FLAGS,
  });
}

/**
 * A page on `url` that records its uncaught errors and every request it
 * makes, its Workers' included (to prove nothing leaves the machine).
 */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const requests = [];
  const errors = [];
  page.on('request', (req) => requests.push(req.url()));
  page.on('pageerror', (err) => errors.push(err));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(new Error(`console.error: ${msg.text()}`));
  });
  await page.goto(url);
  return { page, requests, errors };
}

/**
 * Runs `fn(navaja, ...args)` in the page, with the package (pkg/dist)
 * imported there. `fn` is serialised: it sees only its arguments and the
 * page's globals (tests keep an engine in `window.engine` between calls).
 */
export function inPage(page, fn, ...args) {
  return page.evaluate(
    async ([source, args]) => {
      const navaja = await import('/pkg/dist/index.js');
      // eslint-disable-next-line no-new-func
      return new Function('return ' + source)()(navaja, ...args);
    },
    [fn.toString(), args],
  );
}
