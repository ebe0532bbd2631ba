// Screenshots of the page for the README and for review: light and dark themes on a
// desktop-sized window, and a phone-sized viewport. Written to target/e2e-screenshots/, or
// to docs/screenshots/ (committed) with `scripts/e2e.sh --update-screenshots`.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { after, before, test } from "node:test";
import { launchBrowser, openChat, say, screenshotPath, startServer, waitForLine } from "./harness.mjs";

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ args: ["--stats-interval", "300ms"] });
});
after(async () => {
  await browser?.close();
  await server?.kill();
});

/** A small conversation: three people, an action, a private message, someone typing. */
async function converse(viewer) {
  const ana = await openChat(browser, server, { name: "ana", room: "rust" });
  const ben = await openChat(browser, server, { name: "ben", room: "rust" });
  await say(ana, "/join general");
  await say(ana, "/join rust");
  await say(ana, "Has anyone tried the new typed bindings?");
  await say(ben, "Yes! A wrong payload in the page is now a compile error.");
  await say(viewer, "Nice — and the client reconnects by itself after a restart.");
  await say(ana, "/me ships it");
  await say(ben, `Even <img src=x onerror=alert(1)> shows up as plain text, ${await viewer.locator("#you").innerText()}.`);
  await say(ben, `/pm ${await viewer.locator("#you").innerText()} lunch at noon?`);
  await say(ana, "/join general");
  await say(ana, "anyone around in general?");
  await waitForLine(viewer, "lunch at noon?");
  await ben.locator("#input").pressSequentially("typing", { delay: 10 });
  await viewer.locator("#typing", { hasText: "ben is typing" }).waitFor();
  await viewer.locator("#stats-list dt").first().waitFor();
  return [ana, ben];
}

test("screenshots: light, dark and phone-sized", async () => {
  const viewer = await openChat(browser, server, { name: "carla", room: "rust", colorScheme: "light" });
  await say(viewer, "/join general");
  await say(viewer, "/join rust");
  const others = await converse(viewer);
  await viewer.locator('#room-list [data-room="general"] .unread').waitFor();
  await viewer.mouse.move(0, 0);

  const light = screenshotPath("chat-light.png");
  await viewer.screenshot({ path: light });
  await viewer.click("#theme-toggle");
  await viewer.mouse.move(0, 0);
  const dark = screenshotPath("chat-dark.png");
  await viewer.screenshot({ path: dark });

  const phone = await openChat(browser, server, {
    name: "dev",
    room: "rust",
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    colorScheme: "light",
  });
  await say(others[0], "/join rust");
  await say(others[0], "Welcome dev! This is the phone layout.");
  await waitForLine(phone, "phone layout");
  await others[1].fill("#input", "");
  await others[1].locator("#input").pressSequentially("more", { delay: 10 });
  await phone.locator("#typing", { hasText: "ben is typing" }).waitFor();
  const phonePath = screenshotPath("chat-phone.png");
  await phone.screenshot({ path: phonePath });
  // The rooms drawer opens from the menu button on a phone.
  await phone.click("#toggle-rooms");
  await phone.locator("#sidebar").waitFor({ state: "visible" });
  await phone.screenshot({ path: screenshotPath("chat-phone-rooms.png") });
  await phone.keyboard.press("Escape");
  await phone.locator("#sidebar").waitFor({ state: "hidden" });

  for (const path of [light, dark, phonePath]) assert.ok(statSync(path).size > 10_000, `${path} was written`);
  for (const page of [viewer, phone, ...others]) {
    assert.deepEqual(page.problems, []);
    await page.context().close();
  }
});
