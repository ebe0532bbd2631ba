// Must NOT compile: scripts/build-web.sh checks that tsc reports exactly the errors marked
// `// error: TS…` on their lines, proving that the bindings type the page's payloads.
import type { PushEvents, RequestEvents, SendEvents } from "../../../../bindings/index";
import type { WsxClient } from "../wsx-client.js";

declare const client: WsxClient<RequestEvents, SendEvents, PushEvents>;

export async function wrongPayloads(): Promise<void> {
  // A field of the wrong type.
  await client.request("join", { username: 42 }); // error: TS2322
  // A misspelt field.
  await client.request("sendMessage", { message: "hi", rooom: "general" }); // error: TS2561
  // A required field missing.
  await client.request("sendPrivate", { message: "psst" }); // error: TS2345
  // An enum value that does not exist.
  await client.request("sendMessage", { message: "hi", kind: "shout" }); // error: TS2322
  // A one-way event with a request's payload.
  client.send("typing", { room: "general" }); // error: TS2345
}
