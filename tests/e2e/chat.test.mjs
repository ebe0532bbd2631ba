// The chat page in a real browser (Debian's chromium through playwright-core), against the
// real server. Each test starts its own server on a free port with an in-memory history.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, lines, openChat, say, sleep, startServer, waitForLine } from "./harness.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(async () => browser?.close());

/** Runs `body` with a fresh server, killed afterwards; pages are checked for errors. */
async function withServer(body, options) {
  const server = await startServer(options);
  const pages = [];
  const open = async (opts) => {
    const page = await openChat(browser, server, opts);
    pages.push(page);
    return page;
  };
  try {
    await body({ server, open });
    for (const page of pages) assert.deepEqual(page.problems, [], "the page logged no errors");
  } finally {
    for (const page of pages) await page.context().close();
    await server.kill();
  }
}

describe("chat page", () => {
  test("two pages join the same room and exchange messages", () =>
    withServer(async ({ open }) => {
      const alice = await open({ name: "alice", room: "lobby" });
      const bob = await open({ name: "bob", room: "lobby" });
      await waitForLine(alice, "bob joined #lobby");

      await say(alice, "hello bob");
      const line = await waitForLine(bob, "hello bob", "#messages li.msg");
      assert.match(await line.innerText(), /\d{1,2}:\d{2}/, "the message shows its time");
      assert.equal(await line.locator(".author").innerText(), "alice");
      assert.ok(await line.locator("time").getAttribute("datetime"), "a machine-readable timestamp");

      await say(bob, "hi alice");
      await waitForLine(alice, "hi alice", "#messages li.msg");
      // Each side shows each message exactly once (the sender's own echo is deduplicated).
      for (const page of [alice, bob]) {
        const texts = await lines(page, "#messages li.msg");
        assert.equal(texts.filter((t) => t.includes("hello bob")).length, 1);
        assert.equal(texts.filter((t) => t.includes("hi alice")).length, 1);
        assert.deepEqual(await page.locator("#member-list .author").allInnerTexts(), ["alice", "bob"]);
        assert.equal(await page.locator('#room-list [data-room="lobby"] .count').innerText(), "2");
      }
      // Focus stays in the composer: Enter after Enter keeps chatting.
      assert.equal(await alice.evaluate(() => document.activeElement?.id), "input");
    }));

  test("a typing indicator appears on the other page and goes away on send", () =>
    withServer(async ({ open }) => {
      const alice = await open({ name: "alice" });
      const bob = await open({ name: "bob" });
      await alice.locator("#input").pressSequentially("I am wri", { delay: 20 });
      await bob.locator("#typing", { hasText: "alice is typing" }).waitFor();
      await bob.locator("#member-list .dots").waitFor();
      assert.equal(await alice.locator("#typing").innerText(), "", "nobody sees their own typing");
      await alice.press("#input", "Enter");
      await waitForLine(bob, "I am wri", "#messages li.msg");
      await bob.waitForFunction(() => document.getElementById("typing")?.textContent === "");
    }));

  test("a private message reaches only its target", () =>
    withServer(async ({ open }) => {
      const alice = await open({ name: "alice" });
      const bob = await open({ name: "bob" });
      const carol = await open({ name: "carol" });
      await waitForLine(alice, "carol joined");

      await say(alice, "/pm bob the cake is in the fridge");
      const got = await waitForLine(bob, "the cake is in the fridge", "#messages li.private");
      assert.match(await got.innerText(), /private from alice/);
      await bob.locator('#pm-list [data-peer="alice"] .unread').waitFor();
      // The sender sees it as sent, in the conversation with bob.
      await alice.locator('#pm-list [data-peer="bob"]').click();
      await waitForLine(alice, "the cake is in the fridge", "#messages li.private.outgoing");
      // A message to the room afterwards reaches carol, the private one never did.
      await say(alice, "/pm bob and the tea");
      await bob.locator('#room-list [data-room="general"]').click();
      await say(bob, "public line");
      await waitForLine(carol, "public line");
      const carolSees = (await lines(carol)).join("\n");
      assert.doesNotMatch(carolSees, /cake|tea/);
      assert.equal(await carol.locator("#pm-list li").count(), 0);

      // Clicking a member opens a private conversation; plain text there is private.
      await bob.locator("#member-list button", { hasText: "alice" }).click();
      assert.equal(await bob.locator("#view-title").innerText(), "@alice");
      await say(bob, "thanks!");
      await waitForLine(alice, "thanks!", "#messages li.private");
      await sleep(200);
      assert.doesNotMatch((await lines(carol)).join("\n"), /thanks!/);
    }));

  test("user strings are shown as text, never as HTML", () =>
    withServer(async ({ open, server }) => {
      const evil = "<img src=x onerror=alert(1)>";
      const mallory = await open({ name: "<b>mallory</b>" });
      const bob = await open({ name: "bob" });
      await say(mallory, evil);
      await say(mallory, "/me <script>alert(2)</script> waves");
      const line = await waitForLine(bob, evil, "#messages li.msg");
      assert.equal(await line.locator(".text").innerText(), evil);
      await waitForLine(bob, "<script>alert(2)</script> waves", "#messages li.action");
      assert.equal(await bob.locator("#messages img, #messages script, #messages b").count(), 0);
      assert.ok((await bob.locator("#member-list .author").allInnerTexts()).includes("<b>mallory</b>"));
      // The CSP allows only the page's own scripts and styles.
      const res = await fetch(`${server.url}/`);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /style-src 'self'/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      // (withServer also checks that no dialog opened and nothing was logged.)
    }));

  test("the commands of the terminal client work", () =>
    withServer(async ({ open }) => {
      const alice = await open({ name: "alice" });
      const bob = await open({ name: "bob" });

      await say(alice, "/help");
      for (const cmd of ["/rooms", "/users", "/join", "/leave", "/pm", "/nick", "/me"]) {
        await waitForLine(alice, cmd, "#messages li.notice");
      }
      await say(alice, "/me waves");
      const action = await waitForLine(bob, "waves", "#messages li.action");
      assert.match(await action.innerText(), /\* alice waves/);

      await say(alice, "/join side-room");
      await alice.locator('#room-list [data-room="side-room"][aria-current="true"]').waitFor();
      await say(alice, "/rooms");
      await waitForLine(alice, "#side-room (1 member");
      await say(alice, "/users general");
      await waitForLine(alice, "Users in #general: alice, bob");

      await say(alice, "/nick alicia");
      await waitForLine(alice, "You are now known as alicia");
      await waitForLine(bob, "alice is now known as alicia");
      await bob.locator("#member-list .author", { hasText: "alicia" }).waitFor();

      await say(alice, "/leave side-room");
      await alice.locator('#room-list [data-room="side-room"]').waitFor({ state: "detached" });
      await say(alice, "/frobnicate");
      await waitForLine(alice, "unknown command /frobnicate", "#messages li.notice.warn");
      // A line that failed is kept in the composer.
      assert.equal(await alice.inputValue("#input"), "/frobnicate");
    }));

  test("unread counts for rooms not in view", () =>
    withServer(async ({ open }) => {
      const alice = await open({ name: "alice" });
      const bob = await open({ name: "bob" });
      await say(alice, "/join elsewhere");
      await bob.locator('#active-list [data-room="elsewhere"]').waitFor();
      await say(bob, "/join elsewhere");
      await bob.locator('#room-list [data-room="general"]').click();
      await say(alice, "one");
      await say(alice, "two");
      await bob.locator('#room-list [data-room="elsewhere"] .unread', { hasText: "2" }).waitFor();
      await bob.waitForFunction(() => document.title.startsWith("(2)"));
      await bob.locator('#room-list [data-room="elsewhere"]').click();
      await bob.locator('#room-list [data-room="elsewhere"] .unread').waitFor({ state: "detached" });
    }));

  test("the theme toggle is remembered across reloads", () =>
    withServer(async ({ open }) => {
      const page = await open({ colorScheme: "light" });
      assert.equal(await page.getAttribute("html", "data-theme"), "light");
      await page.click("#theme-toggle");
      assert.equal(await page.getAttribute("html", "data-theme"), "dark");
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.reload();
      await page.waitForSelector("#login-name");
      assert.equal(await page.getAttribute("html", "data-theme"), "dark");
      assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), background);
      await page.click("#theme-toggle");
      await page.reload();
      assert.equal(await page.getAttribute("html", "data-theme"), "light");
    }));

  test("live server statistics arrive over /events", () =>
    withServer(
      async ({ open }) => {
        const alice = await open({ name: "alice" });
        await alice.locator("#stats", { hasText: "1 online" }).waitFor();
        // Only the stream can tell alice that bob came: the page fetches /api/stats once.
        await open({ name: "bob" });
        await alice.locator("#stats", { hasText: "2 online" }).waitFor({ timeout: 5000 });
        assert.deepEqual(await alice.locator("#stats-list dt").allInnerTexts(), ["online", "connections", "rooms", "messages", "uptime"]);
      },
      { args: ["--stats-interval", "300ms"] },
    ));

  test("the name form refuses an empty name and keyboard focus starts there", () =>
    withServer(async ({ open }) => {
      const page = await open();
      assert.equal(await page.evaluate(() => document.activeElement?.id), "login-name");
      await page.waitForSelector("#login-button:not([disabled])");
      await page.fill("#login-name", "   ");
      await page.press("#login-name", "Enter");
      await page.locator("#login-error", { hasText: "1 to 50" }).waitFor();
      await page.fill("#login-name", "dora");
      await page.press("#login-name", "Enter");
      await page.waitForSelector("#chat:not([hidden])");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "input");
    }));
});
