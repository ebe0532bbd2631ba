// Uses the generated zod module (bindings/ChatEvents.zod.ts) the way the TypeScript wsx
// client does: `createClient(url, events)` infers every payload from the schemas. Never
// run, only type-checked by scripts/check-bindings.sh.
//
// `createClient` is declared here with the signature of `@mdrv/wsx/client` (events of
// `{ request, response? }` zod schemas), which is not on the npm registry this project
// installs from.
import type { z } from "zod";
import { events, JoinRequest } from "../../bindings/ChatEvents.zod";

type EventDef = { request: z.ZodType; response?: z.ZodType };

interface Client<E extends Record<string, EventDef>> {
  request<K extends keyof E>(
    name: K,
    payload: z.input<E[K]["request"]>,
  ): Promise<E[K] extends { response: z.ZodType } ? z.output<E[K]["response"]> : never>;
  on<K extends keyof E>(name: K, callback: (payload: z.output<E[K]["request"]>) => void): () => void;
}

declare function createClient<E extends Record<string, EventDef>>(url: string, events: E): Client<E>;

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(value: T): T => value;

export async function seedFlow(): Promise<string> {
  const client = createClient("ws://127.0.0.1:3001/ws", events);
  // `room` has a default: optional on input, present on output.
  const joined = await client.request("join", { username: "alice" });
  const users: string[] = joined.users;
  const sent = await client.request("sendMessage", { message: "hello" });
  const id: string = sent.messageId;
  client.on("message", (m) => {
    const text: string = m.message;
    const seq: number = m.seq;
    void [text, seq];
  });
  client.on("userJoined", (u) => void u.username);
  // @ts-expect-error: `message` is required
  void client.request("sendMessage", {});
  // @ts-expect-error: not an event of the chat
  void client.request("nope", {});
  return `${users.join(",")} ${id}`;
}

assertType<Equals<z.output<typeof JoinRequest>["room"], string>>(true);
assertType<Equals<z.input<typeof JoinRequest>["username"], string>>(true);
