// The reusable browser client (examples/chat/web/wsx-client.ts, served as /wsx-client.js),
// loaded as an ES module by chromium: against the real server for the wire errors, and
// against a scripted fake socket for reconnection, backoff and pending requests.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, openChat, startServer } from "./harness.mjs";

let browser;
let server;
let page;
before(async () => {
  browser = await launchBrowser();
  server = await startServer();
  page = await openChat(browser, server);
});
after(async () => {
  await page?.context().close();
  await browser?.close();
  await server?.kill();
});

/** Runs `body(arg)` in the page (which imports `/wsx-client.js` itself: the CSP forbids eval). */
function inPage(body, arg) {
  return page.evaluate(body, arg);
}

describe("wsx-client against the server", () => {
  test("a response_error becomes a WsxError with code, message and cause", async () => {
    const got = await inPage(async () => {
      const { WsxClient } = await import("/wsx-client.js");
      const client = new WsxClient({ url: "/ws" });
      const opened = new Promise((resolve) => client.onOpen(resolve));
      client.connect();
      await opened;
      const catchIt = (p) => p.then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message, cause: e.cause ?? null, fields: e.fieldErrors, instance: e instanceof Error }));
      const invalid = await catchIt(client.request("join", { username: "", room: "no spaces" }));
      const unknown = await catchIt(client.request("noSuchEvent", {}));
      const ok = await client.request("join", { username: "tester", room: "general" });
      client.close();
      return { invalid, unknown, ok: ok.success, state: client.state };
    });
    assert.equal(got.invalid.name, "WsxError");
    assert.equal(got.invalid.instance, true);
    assert.equal(got.invalid.code, "invalid_payload");
    assert.deepEqual(got.invalid.fields.map((f) => f.path).sort(), ["/room", "/username"]);
    assert.equal(got.unknown.code, "unknown_event");
    assert.equal(got.ok, true);
    assert.equal(got.state.kind, "closed");
  });

  test("not connected: a request fails at once with not_open and nothing is queued", async () => {
    const got = await inPage(async () => {
      const { WsxClient } = await import("/wsx-client.js");
      const client = new WsxClient({ url: "/ws" });
      return client.request("listRooms", {}).then(() => "resolved", (e) => e.code);
    });
    assert.equal(got, "not_open");
  });
});

/** A scripted WebSocket: the test opens, answers and closes it by hand. */
const FAKE = async (options) => {
  const { WsxClient, backoffDelay } = await import("/wsx-client.js");
  const sockets = [];
  class FakeSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.sent = [];
      this.readyState = 0;
      sockets.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close(code = 1000, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    drop(code = 1006, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
  }
  const tick = (ms) => new Promise((r) => setTimeout(r, ms));
  const states = [];
  const client = new WsxClient({
    url: "ws://fake.invalid/ws",
    webSocket: (url, protocols) => new FakeSocket(url, protocols),
    random: () => 1, // the largest delay of each attempt, to check the cap
    requestTimeoutMs: 200,
    reconnect: { baseDelayMs: 20, maxDelayMs: 80, stableAfterMs: 50 },
    ...options,
  });
  client.onState((s) => states.push(s.kind === "reconnecting" ? `reconnecting#${s.attempt}:${s.delayMs}` : s.kind));
  const opens = [];
  client.onOpen((info) => opens.push(info.reconnected));
  const errors = [];
  client.onError((e) => errors.push(`${e.code}:${e.message}`));
  const pushes = [];
  client.on("message", (m) => pushes.push(m.message));
  client.connect();
  const s0 = sockets[0];
  s0.open();

  // A request and its response, matched by id; the envelope of PROTOCOL.md.
  const p1 = client.request("listRooms", {});
  const frame = s0.sent[0];
  s0.receive({ v: "1.0", t: "response_ok", x: "listRooms", id: frame.id, w: frame.w, p: { rooms: [] } });
  const r1 = await p1;

  // A push and a $error push.
  s0.receive({ v: "1.0", t: "send", x: "message", p: { message: "hi" } });
  s0.receive({ v: "1.0", t: "send", x: "$error", p: { code: "bad_frame", message: "cannot decode" } });
  s0.onmessage({ data: "not json" });

  // A pending request fails when the connection drops; it is never re-sent.
  const pending = client.request("listUsers", { room: "general" }).catch((e) => e.code);
  s0.drop(1006);
  const pendingCode = await pending;
  // Three failed attempts: the delay doubles up to the cap (random() = 1 here).
  await tick(30);
  sockets[1].drop(1006);
  await tick(50);
  sockets[2].drop(1006);
  await tick(90);
  sockets[3].open();
  const resent = sockets.slice(1).flatMap((s) => s.sent);
  // A timeout.
  const timedOut = await client.request("listRooms", {}).catch((e) => e.code);
  // The idle timeout close ends in `closed`, with no retry.
  sockets[3].drop(4000, "idle timeout: no message received");
  await tick(120);
  const socketsAfterIdle = sockets.length;
  // connect() starts again; the open hook says it is a reconnect.
  client.connect();
  sockets[4].open();
  client.close();
  return {
    protocols: s0.protocols,
    frame,
    r1,
    pushes,
    errors,
    pendingCode,
    resent,
    timedOut,
    socketsAfterIdle,
    states,
    opens,
    delays: [1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, 500, 15000, () => 0.999999)),
    jittered: Array.from({ length: 200 }, () => backoffDelay(3, 500, 15000, Math.random)),
  };
};

describe("wsx-client with a scripted socket", () => {
  test("envelope, pushes, $error, pending failure, backoff, idle close, resume hook", async () => {
    const got = await inPage(FAKE, {});
    assert.deepEqual(got.protocols, ["wsx.v1.json"]);
    assert.equal(got.frame.v, "1.0");
    assert.equal(got.frame.t, "request");
    assert.equal(got.frame.x, "listRooms");
    assert.equal(typeof got.frame.id, "string");
    assert.equal(typeof got.frame.w, "number");
    assert.deepEqual(got.frame.p, {});
    assert.deepEqual(got.r1, { rooms: [] });
    assert.deepEqual(got.pushes, ["hi"]);
    assert.equal(got.errors.length, 2);
    assert.equal(got.errors[0], "bad_frame:cannot decode");
    assert.match(got.errors[1], /^bad_response:/);
    assert.equal(got.pendingCode, "disconnected");
    assert.deepEqual(got.resent.filter((f) => f.x === "listUsers"), [], "a failed request is never re-sent");
    assert.equal(got.timedOut, "timeout");
    assert.deepEqual(got.states, [
      "closed",
      "connecting",
      "open",
      "reconnecting#1:20",
      "reconnecting#2:40",
      "reconnecting#3:80",
      "open",
      "closed",
      "connecting",
      "open",
      "closed",
    ]);
    assert.equal(got.socketsAfterIdle, 4, "no retry after the idle timeout");
    assert.deepEqual(got.opens, [false, true, true]);
    assert.deepEqual(got.delays, [499, 999, 1999, 3999, 7999, 14999]);
    assert.ok(got.jittered.every((d) => d >= 0 && d < 2000), "full jitter stays under the cap");
    assert.ok(new Set(got.jittered).size > 50, "and spreads the attempts");
  });
});
