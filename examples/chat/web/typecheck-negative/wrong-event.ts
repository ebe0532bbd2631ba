// Must NOT compile: event names and kinds are checked (see wrong-payload.ts).
import type { PushEvents, RequestEvents, SendEvents } from "../../../../bindings/index";
import type { WsxClient } from "../wsx-client.js";

declare const client: WsxClient<RequestEvents, SendEvents, PushEvents>;

export async function wrongEvents(): Promise<void> {
  // A misspelt push.
  client.on("mesage", () => {}); // error: TS2345
  // A request used as a one-way event.
  client.send("join", { username: "alice" }); // error: TS2345
  // A push that is not a request.
  await client.request("welcome", {}); // error: TS2345
}
