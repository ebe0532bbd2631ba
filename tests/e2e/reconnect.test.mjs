// Losing the server: the page says so (a crash, a graceful restart), reconnects by itself,
// re-joins its rooms from the last message it saw and shows what it missed exactly once;
// after the idle timeout it says why it was disconnected.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, launchBrowser, lines, openChat, say, startRelay, startServer, tempDir, waitForLine } from "./harness.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(async () => browser?.close());

describe("reconnection", () => {
  test("after a server restart the page reconnects and shows the missed messages once", async () => {
    const tmp = tempDir();
    const db = path.join(tmp.dir, "chat.db");
    let server = await startServer({ db });
    const port = server.port;
    // alice's clock is under the test's control, so she stays away while bob talks;
    // bob retries quickly.
    const alice = await openChat(browser, server, { name: "alice", query: "?reconnectBase=200&reconnectMax=1000", clock: true });
    const bob = await openChat(browser, server, { name: "bob", query: "?reconnectBase=100&reconnectMax=300" });
    try {
      await say(alice, "before the restart");
      await waitForLine(bob, "before the restart", "#messages li.msg");

      // Freeze alice's timers, then crash the server.
      await alice.clock.pauseAt(Date.now() + 1000);
      await server.kill();
      for (const page of [alice, bob]) {
        await page.locator("#status[data-state='reconnecting']").waitFor();
        await page.locator("#banner", { hasText: "Connection lost" }).waitFor();
      }
      assert.match(await alice.locator("#status").innerText(), /Reconnecting/);

      // Typed while the server is down: it waits in the outbox, shown as "sending…".
      await say(alice, "typed while offline");
      await waitForLine(alice, "typed while offline", "#messages li.pending");
      assert.match(await alice.locator("#messages li.pending").innerText(), /sending…/);
      assert.equal(await alice.inputValue("#input"), "");

      // The server comes back on the same port with the same database; bob is back first.
      server = await startServer({ port, db });
      await bob.locator("#status[data-state='open']").waitFor();
      await waitForLine(bob, "Reconnected", "#messages li.notice");
      await say(bob, "while you were away 1");
      await say(bob, "while you were away 2");
      await waitForLine(bob, "while you were away 2", "#messages li.msg");
      assert.equal(await alice.locator("#status").getAttribute("data-state"), "reconnecting");

      // Let alice's time run: she reconnects by herself and catches up.
      await alice.clock.resume();
      await alice.locator("#status[data-state='open']").waitFor({ timeout: 15_000 });
      await waitForLine(alice, "while you were away 2", "#messages li.msg");
      await waitForLine(alice, "2 messages you missed", "#messages li.notice");
      await alice.locator("#banner").waitFor({ state: "hidden" });
      // The outbox went out after the re-join: sent, shown once, to bob too.
      await alice.locator("#messages li.pending").waitFor({ state: "detached" });
      await waitForLine(bob, "typed while offline", "#messages li.msg");
      const texts = await lines(alice, "#messages li.msg");
      for (const text of ["before the restart", "while you were away 1", "while you were away 2", "typed while offline"]) {
        assert.equal(texts.filter((t) => t.includes(text)).length, 1, `"${text}" is shown once`);
      }
      const bobs = await lines(bob, "#messages li.msg");
      assert.equal(bobs.filter((t) => t.includes("typed while offline")).length, 1);
      // Shown in order, and the conversation goes on.
      const order = texts.map((t) => ["before", "away 1", "away 2"].findIndex((k) => t.includes(k))).filter((i) => i >= 0);
      assert.deepEqual(order, [0, 1, 2]);
      await say(alice, "I am back");
      await waitForLine(bob, "I am back", "#messages li.msg");
      assert.deepEqual(await alice.locator("#member-list .author").allInnerTexts(), ["alice", "bob"]);
      for (const page of [alice, bob]) {
        // Only the expected network failures of a dead server (socket, SSE stream) are logged:
        // refused while it is down, reset when a request was accepted just as it was killed.
        const expected = /WebSocket|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING/;
        assert.deepEqual(page.problems.filter((p) => !expected.test(p)), []);
      }
    } finally {
      await alice.context().close();
      await bob.context().close();
      await server.kill();
      tmp.cleanup();
    }
  });

  test("when the history is gone (an in-memory server restarted), the page says so", async () => {
    let server = await startServer();
    const port = server.port;
    const alice = await openChat(browser, server, { name: "alice", query: "?reconnectBase=100&reconnectMax=300" });
    try {
      await say(alice, "said before the restart");
      await waitForLine(alice, "said before the restart", "#messages li.msg");
      await server.kill();
      await alice.locator("#status[data-state='reconnecting']").waitFor();
      server = await startServer({ port });
      await alice.locator("#status[data-state='open']").waitFor();
      await waitForLine(alice, "no longer kept", "#messages li.notice.warn");
      // What was shown stays; the new history starts again at seq 1 and is not mistaken
      // for what was already shown.
      await say(alice, "said after the restart");
      await waitForLine(alice, "said after the restart", "#messages li.msg");
      const texts = await lines(alice, "#messages li.msg");
      assert.equal(texts.filter((t) => t.includes("said before the restart")).length, 1);
      assert.equal(texts.filter((t) => t.includes("said after the restart")).length, 1);
    } finally {
      await alice.context().close();
      await server.kill();
    }
  });

  test("a graceful restart (1001) says so, and the page reconnects and sends what was typed", async () => {
    const tmp = tempDir();
    const db = path.join(tmp.dir, "chat.db");
    let server = await startServer({ db });
    const port = server.port;
    const alice = await openChat(browser, server, { name: "alice", query: "?reconnectBase=100&reconnectMax=300" });
    const bob = await openChat(browser, server, { name: "bob", query: "?reconnectBase=100&reconnectMax=300" });
    try {
      await say(alice, "before the restart");
      await waitForLine(bob, "before the restart", "#messages li.msg");
      // SIGTERM: the server closes every WebSocket with 1001 and exits.
      await server.stop();
      for (const page of [alice, bob]) {
        await page.locator("#banner", { hasText: "Server restarting, reconnecting…" }).waitFor();
        await page.locator("#status[data-state='reconnecting']").waitFor();
        // Still said after attempts refused while it is down (their close is 1006).
        await page.locator("#banner", { hasText: /Server restarting, reconnecting… \(attempt [3-9]/ }).waitFor();
        assert.doesNotMatch(await page.locator("#banner").innerText(), /Connection lost|Disconnected/);
      }
      await say(alice, "typed during the restart");
      await waitForLine(alice, "typed during the restart", "#messages li.pending");

      server = await startServer({ port, db });
      for (const page of [alice, bob]) {
        await page.locator("#status[data-state='open']").waitFor({ timeout: 15_000 });
        await page.locator("#banner").waitFor({ state: "hidden" });
        await waitForLine(page, "typed during the restart", "#messages li.msg");
      }
      await alice.locator("#messages li.pending").waitFor({ state: "detached" });
      for (const page of [alice, bob]) {
        const texts = await lines(page, "#messages li.msg");
        for (const text of ["before the restart", "typed during the restart"]) {
          assert.equal(texts.filter((t) => t.includes(text)).length, 1, `"${text}" is shown once`);
        }
        const expected = /WebSocket|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING/;
        assert.deepEqual(page.problems.filter((p) => !expected.test(p)), []);
      }
    } finally {
      await alice.context().close();
      await bob.context().close();
      await server.kill();
      tmp.cleanup();
    }
  });

  test("after the idle timeout the page says why, and typing reconnects", async () => {
    const server = await startServer({ args: ["--idle-timeout", "1500ms"] });
    const page = await openChat(browser, server, { name: "idler" });
    try {
      await page.locator("#status[data-state='closed']").waitFor({ timeout: 8000 });
      const banner = await page.locator("#banner").innerText();
      // In the terminal client's words: why, and what brings it back.
      assert.match(banner, /Disconnected after 1 second without activity/);
      assert.match(banner, /idle timeout/);
      assert.doesNotMatch(banner, /restarting/);
      // It does not hammer the server: still closed a moment later.
      await page.waitForTimeout(500);
      assert.equal(await page.locator("#status").getAttribute("data-state"), "closed");
      // A key press in the composer reconnects and re-joins.
      await page.focus("#input");
      await page.keyboard.type("back");
      await page.locator("#status[data-state='open']").waitFor();
      await waitForLine(page, "Reconnected", "#messages li.notice");
      await page.press("#input", "Enter");
      await waitForLine(page, "back", "#messages li.msg");
      // Idle again: sending a line reconnects, re-joins, then sends it.
      await page.locator("#status[data-state='closed']").waitFor({ timeout: 8000 });
      await page.fill("#input", "sent after idling");
      await page.press("#input", "Enter");
      await waitForLine(page, "sent after idling", "#messages li.msg");
      assert.equal(await page.inputValue("#input"), "");
    } finally {
      await page.context().close();
      await server.kill();
    }
  });

  test("after a silent network drop the page takes its name back at once with its resume token", async () => {
    // The page reaches the server through a TCP relay, so the test can cut the page's
    // side while the server's side stays open and silent: what a dead network looks
    // like to the server, which keeps holding the name until its ping timeout (45 s).
    const serverPort = await freePort();
    const relay = await startRelay(serverPort);
    const server = await startServer({ port: serverPort, args: ["--allow-origin", relay.url] });
    const bob = await openChat(browser, relay, { name: "bob", query: "?reconnectBase=100&reconnectMax=300" });
    const carol = await openChat(browser, server, { name: "carol" });
    try {
      await say(bob, "before the drop");
      await waitForLine(carol, "before the drop", "#messages li.msg");

      // The network dies: the page's sockets break, the server's stay open, unread.
      relay.cut();
      await say(carol, "while bob was cut off");

      // The page reconnects by itself and, with its token, is bob again at once.
      await bob.locator("#status[data-state='open']").waitFor({ timeout: 10_000 });
      await waitForLine(bob, "while bob was cut off", "#messages li.msg");
      await waitForLine(bob, "Reconnected", "#messages li.notice");
      assert.equal(await bob.locator("#messages li.notice", { hasText: "Could not re-join" }).count(), 0);
      await say(bob, "back already");
      await waitForLine(carol, "back already", "#messages li.msg");
      // Carol saw no leave and no join of bob.
      const notices = await lines(carol, "#messages li.notice");
      assert.deepEqual(notices.filter((t) => /bob (left|joined)/.test(t)), []);
      assert.deepEqual(await carol.locator("#member-list .author").allInnerTexts(), ["bob", "carol"]);
      const expected = /WebSocket|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/;
      assert.deepEqual(bob.problems.filter((p) => !expected.test(p)), []);
      assert.deepEqual(carol.problems, []);
    } finally {
      await bob.context().close();
      await carol.context().close();
      relay.close();
      await server.kill();
    }
  });
});
