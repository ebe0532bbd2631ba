// Must NOT compile: responses and pushes are typed too (see wrong-payload.ts).
import type { PushEvents, RequestEvents, SendEvents } from "../../../../bindings/index";
import type { WsxClient } from "../wsx-client.js";

declare const client: WsxClient<RequestEvents, SendEvents, PushEvents>;

export async function wrongUse(): Promise<void> {
  const joined = await client.request("join", { username: "alice" });
  // `users` is a list of names, not a count.
  const count: number = joined.users; // error: TS2322
  client.on("message", (m) => {
    // The field is `messageId` (camelCase on the wire).
    console.log(m.message_id); // error: TS2551
  });
  client.on("userTyping", (t) => {
    const active: string = t.active; // error: TS2322
    void active;
  });
  void count;
}
