// The page's outbox: a message typed while the server is unreachable, or whose answer was
// lost, is shown as "sending…", sent again with the same clientId until the server
// answers, and then shown as sent exactly once, to the sender and to the others. The
// outbox survives a reload of the tab (sessionStorage).
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, launchBrowser, lines, login, openChat, say, startRelay, startServer, tempDir, waitForLine } from "./harness.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(async () => browser?.close());

/** The stored messages of `room` whose text is `text`. */
async function stored(server, room, text) {
  const res = await fetch(`${server.url}/api/room/${room}/history?limit=100`);
  assert.equal(res.status, 200);
  const body = await res.json();
  return body.messages.filter((m) => m.message === text);
}

/** How many shown message lines (sent, not pending) hold `text`. */
async function shown(page, text) {
  const texts = await lines(page, "#messages li.msg");
  return texts.filter((t) => t.includes(text)).length;
}

const QUICK = "?reconnectBase=100&reconnectMax=300";
/** Pages whose network a relay breaks also see the failures of the requests it broke. */
const NETWORK = /WebSocket|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/;

describe("outbox", () => {
  test("the server is killed after storing a message, before its answer: it is sent again and shown once", async () => {
    // alice reaches the server through a relay that can hold the server's replies: her
    // message arrives and is stored, its answer never reaches her, then the server is
    // killed (SIGKILL). bob is connected directly.
    const tmp = tempDir();
    const db = path.join(tmp.dir, "chat.db");
    const port = await freePort();
    const relay = await startRelay(port);
    const args = ["--allow-origin", relay.url];
    let server = await startServer({ port, db, args });
    // A long request timeout: the resend comes from the lost connection, not a timer.
    const alice = await openChat(browser, relay, { name: "alice", query: `${QUICK}&requestTimeout=60000` });
    const bob = await openChat(browser, server, { name: "bob", query: QUICK });
    try {
      await say(alice, "before");
      await waitForLine(bob, "before", "#messages li.msg");

      relay.holdReplies();
      await say(alice, "its answer is lost");
      await waitForLine(alice, "its answer is lost", "#messages li.pending");
      // Stored and delivered to bob: committed; alice never hears back.
      await waitForLine(bob, "its answer is lost", "#messages li.msg");
      assert.equal((await stored(server, "general", "its answer is lost")).length, 1);
      await server.kill();
      await alice.locator("#status[data-state='reconnecting']").waitFor();
      assert.equal(await alice.locator("#messages li.pending", { hasText: "its answer is lost" }).count(), 1);
      assert.equal(await shown(alice, "its answer is lost"), 0);

      server = await startServer({ port, db, args });
      // alice re-joins and sends it again with its clientId: the server answers with the
      // first answer, and stores nothing new.
      await alice.locator("#status[data-state='open']").waitFor({ timeout: 15_000 });
      await alice.locator("#messages li.pending").waitFor({ state: "detached" });
      await waitForLine(alice, "its answer is lost", "#messages li.msg");
      await bob.locator("#status[data-state='open']").waitFor({ timeout: 15_000 });
      await say(alice, "after");
      for (const page of [alice, bob]) await waitForLine(page, "after", "#messages li.msg");
      for (const page of [alice, bob]) {
        assert.equal(await shown(page, "its answer is lost"), 1, "shown once");
        assert.equal(await shown(page, "before"), 1);
      }
      const kept = await stored(server, "general", "its answer is lost");
      assert.equal(kept.length, 1, "stored once");
      // Where the conversation has it: between "before" and "after".
      const texts = await lines(alice, "#messages li.msg");
      const order = texts.map((t) => ["before", "its answer is lost", "after"].findIndex((k) => t.endsWith(k))).filter((i) => i >= 0);
      assert.deepEqual(order, [0, 1, 2]);
      assert.deepEqual(alice.problems.filter((p) => !NETWORK.test(p)), []);
      assert.deepEqual(bob.problems.filter((p) => !NETWORK.test(p)), []);
    } finally {
      await alice.context().close();
      await bob.context().close();
      relay.close();
      await server.kill();
      tmp.cleanup();
    }
  });

  test("a rename waits until the outbox is empty (a message re-sent under a new name would be stored twice)", async () => {
    const tmp = tempDir();
    const db = path.join(tmp.dir, "chat.db");
    const port = await freePort();
    const relay = await startRelay(port);
    const args = ["--allow-origin", relay.url];
    const server = await startServer({ port, db, args });
    const alice = await openChat(browser, relay, { name: "alice", query: `${QUICK}&requestTimeout=60000` });
    try {
      relay.holdReplies();
      await say(alice, "not answered yet");
      await waitForLine(alice, "not answered yet", "#messages li.pending");
      await say(alice, "/nick alicia");
      await waitForLine(alice, "Wait until your message is sent before changing your name.");
      assert.equal(await alice.locator("#messages li", { hasText: "known as alicia" }).count(), 0);
      assert.equal((await stored(server, "general", "not answered yet")).length, 1);
    } finally {
      await alice.context().close();
      relay.close();
      await server.kill();
      tmp.cleanup();
    }
  });

  test("messages left unanswered by a reload (one stored, its answer lost; two never sent) are sent once after it", async () => {
    const tmp = tempDir();
    const db = path.join(tmp.dir, "chat.db");
    const port = await freePort();
    const relay = await startRelay(port);
    const server = await startServer({ port, db, args: ["--allow-origin", relay.url] });
    const alice = await openChat(browser, relay, { name: "alice", query: `${QUICK}&requestTimeout=60000` });
    const bob = await openChat(browser, server, { name: "bob", query: QUICK });
    try {
      relay.holdReplies();
      // Sent one at a time: the first is stored (bob gets it), its answer held; the other
      // two wait behind it.
      await say(alice, "first, answer lost");
      await say(alice, "/me waits");
      await say(alice, "/pm bob private, never sent");
      await waitForLine(bob, "first, answer lost", "#messages li.msg");
      await waitForLine(alice, "waits", "#messages li.pending");
      // The private one is in its own conversation (which /pm does not open).
      assert.equal(await alice.locator("#messages li.pending").count(), 2);

      await alice.reload();
      await alice.locator("#login-note", { hasText: "3 messages you typed before the reload" }).waitFor();
      assert.equal(await alice.inputValue("#login-name"), "alice");
      await login(alice, "alice");
      for (const text of ["first, answer lost", "alice waits"]) {
        await waitForLine(alice, text, "#messages li.msg");
        await waitForLine(bob, text, "#messages li.msg");
      }
      await waitForLine(bob, "private, never sent", "#messages li.msg.private");
      await alice.locator("#messages li.pending").waitFor({ state: "detached" });
      await alice.locator("#login-note").waitFor({ state: "hidden" });
      await say(alice, "after the reload");
      for (const page of [alice, bob]) await waitForLine(page, "after the reload", "#messages li.msg");
      // The room's push of a message can reach the page before the answer that empties
      // the outbox: wait for the answer (its line no longer pending).
      await alice.locator("#messages li.pending").waitFor({ state: "detached" });
      // Nothing left in the tab's storage, and every message once.
      assert.equal(await alice.evaluate(() => sessionStorage.getItem("wsx-chat-outbox")), null);
      for (const page of [alice, bob]) {
        assert.equal(await shown(page, "first, answer lost"), 1);
        assert.equal(await shown(page, "alice waits"), 1);
      }
      assert.equal((await lines(bob, "#messages li.msg.private")).filter((t) => t.includes("private, never sent")).length, 1);
      assert.equal((await stored(server, "general", "first, answer lost")).length, 1);
      assert.equal((await stored(server, "general", "waits")).length, 1);
      assert.deepEqual(alice.problems.filter((p) => !NETWORK.test(p)), []);
      assert.deepEqual(bob.problems, []);
    } finally {
      await alice.context().close();
      await bob.context().close();
      relay.close();
      await server.kill();
      tmp.cleanup();
    }
  });
});
