// Shared helpers of the browser tests: a chat server per test (its own process, port and
// database), Debian's chromium driven by playwright-core, and small page helpers.
// Run through scripts/e2e.sh, which installs what they need and builds the server.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHROMIUM = process.env.WSX_CHROMIUM ?? "/usr/bin/chromium";
export const SERVER_BIN = process.env.WSX_CHAT_BIN ?? path.join(ROOT, "target/debug/wsx-chat");
/**
 * Where screenshots go: target/e2e-screenshots/ by default, so a test run leaves the tree
 * clean; `scripts/e2e.sh --update-screenshots` sets this to docs/screenshots/ (committed).
 */
export const SCREENSHOTS = process.env.WSX_SCREENSHOTS_DIR ?? path.join(ROOT, "target/e2e-screenshots");

/** The flags the issue asks for: a quiet, headless, sandbox-less chromium with no network of its own. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A port nobody listens on now. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** A fresh temporary directory, removed with `cleanup()`. */
export function tempDir(prefix = "wsx-e2e-") {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts the chat server on `port` (default: a free one) with an in-memory history, or
 * the SQLite file `db`. Resolves once it answers HTTP.
 */
export async function startServer({ port, db, args = [] } = {}) {
  port ??= await freePort();
  const argv = ["--port", String(port), ...(db === undefined ? ["--memory"] : ["--db", db]), ...args];
  const child = spawn(SERVER_BIN, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const logs = [];
  child.stdout.on("data", (d) => logs.push(String(d)));
  child.stderr.on("data", (d) => logs.push(String(d)));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== null) throw new Error(`wsx-chat exited (${JSON.stringify(exited)}):\n${logs.join("")}`);
    try {
      const res = await fetch(`${url}/`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`wsx-chat did not start on ${url}:\n${logs.join("")}`);
    await sleep(50);
  }
  return {
    port,
    url,
    logs,
    /** Kills the process (SIGKILL: like a crash) and waits for it to exit. */
    async kill() {
      if (exited === null) {
        child.kill("SIGKILL");
        await once(child, "exit").catch(() => {});
      }
    },
    /** Stops the process with SIGTERM (its graceful shutdown: a restart) and waits for it. */
    async stop() {
      if (exited === null) {
        child.kill("SIGTERM");
        await once(child, "exit").catch(() => {});
      }
    },
  };
}

/**
 * A TCP relay on its own port to `targetPort` (the server's, also after a restart on it),
 * so a test can break the page's network in ways a real one breaks:
 * - `cut()`: the page's sockets break while the server's stay open and silent (a network
 *   that died without closing);
 * - `holdReplies()`: on the WebSocket, what the page sends still arrives, what the server
 *   answers does not (an answer lost on the way); plain HTTP (a reload) still works.
 * When the server's side closes, the page's side is closed too.
 */
export async function startRelay(targetPort) {
  const port = await freePort();
  const links = new Set();
  const relay = net.createServer((page) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const link = { page, upstream, websocket: false };
    links.add(link);
    page.once("data", (head) => (link.websocket = /^GET \/ws[ ?]/.test(head.toString("latin1", 0, 16))));
    page.pipe(upstream);
    upstream.pipe(page);
    const drop = () => links.delete(link);
    page.on("error", drop);
    upstream.on("error", drop);
    upstream.on("close", () => {
      drop();
      page.destroy();
    });
  });
  relay.listen(port, "127.0.0.1");
  await once(relay, "listening");
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut() {
      for (const link of links) {
        link.upstream.unpipe(link.page);
        link.page.unpipe(link.upstream);
        link.upstream.pause();
        link.page.destroy();
      }
    },
    holdReplies() {
      for (const link of links) {
        if (!link.websocket) continue;
        // Read and dropped (not paused), so the server's close still reaches the page.
        link.upstream.unpipe(link.page);
        link.upstream.on("data", () => {});
        link.upstream.resume();
      }
    },
    close() {
      relay.close();
      for (const link of links) {
        link.page.destroy();
        link.upstream.destroy();
      }
      links.clear();
    },
  };
}

/** Launches chromium; every launch gets a fresh temporary profile (user-data-dir). */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * Opens the chat in its own browser context (its own storage), collecting page errors and
 * console errors in `page.problems`. With `name`, also joins `room`.
 */
export async function openChat(browser, server, { name, room = "general", query = "", viewport, colorScheme = "light", clock = false, deviceScaleFactor } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 800 }, colorScheme, deviceScaleFactor });
  if (clock) await context.clock.install();
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    page.problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`${server.url}/${query}`);
  if (name !== undefined) await login(page, name, room);
  return page;
}

/** Fills the name form and waits for the chat. */
export async function login(page, name, room = "general") {
  await page.fill("#login-name", name);
  await page.fill("#login-room", room);
  await page.click("#login-button");
  await page.waitForSelector("#chat:not([hidden])");
  await page.waitForSelector(`#room-list [data-room="${room}"]`, { state: "attached" });
}

/** Types a line into the composer and presses Enter. */
export async function say(page, text) {
  await page.fill("#input", text);
  await page.press("#input", "Enter");
}

/** Waits until a message line containing `text` is shown, and returns its locator. */
export async function waitForLine(page, text, selector = "#messages li") {
  const line = page.locator(selector, { hasText: text }).first();
  await line.waitFor();
  return line;
}

/** The texts of the shown message lines. */
export function lines(page, selector = "#messages li") {
  return page.locator(selector).allInnerTexts();
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Where screenshots go (created on demand). */
export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, name);
}
