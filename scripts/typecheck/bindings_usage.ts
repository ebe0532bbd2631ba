// Uses the generated event maps of bindings/ the way a typed client does, so that a
// mistake in their shape fails `scripts/check-bindings.sh`. Never run, only type-checked.
import type {
  ChatMessage,
  ErrorCode,
  EventName,
  JoinRequest,
  JoinResponse,
  PushEvents,
  RequestEvents,
  SendEvents,
  WireError,
} from "../../bindings/index";
import { EVENT_KINDS } from "../../bindings/index";

/** The surface of a typed client, as a TypeScript wsx client would declare it. */
interface TypedClient {
  request<K extends keyof RequestEvents>(
    name: K,
    payload: RequestEvents[K]["request"],
  ): Promise<RequestEvents[K]["response"]>;
  send<K extends keyof SendEvents>(name: K, payload: SendEvents[K]): void;
  on<K extends keyof PushEvents>(name: K, callback: (payload: PushEvents[K]) => void): () => void;
}

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(value: T): T => value;

// The maps have the seed chat's events, with the right payloads.
assertType<Equals<RequestEvents["join"]["request"], JoinRequest>>(true);
assertType<Equals<RequestEvents["join"]["response"], JoinResponse>>(true);
assertType<Equals<PushEvents["message"], ChatMessage>>(true);
type SeedPushes = "message" | "userJoined" | "userLeft";
assertType<Equals<Extract<keyof PushEvents, SeedPushes>, SeedPushes>>(true);
assertType<Equals<Extract<keyof RequestEvents, keyof PushEvents>, never>>(true);
assertType<Equals<(typeof EVENT_KINDS)["join"], "request">>(true);

export async function useClient(client: TypedClient): Promise<string[]> {
  // `room` has a default, so it may be omitted; 64-bit timestamps are numbers.
  const joined = await client.request("join", { username: "alice" });
  const sent = await client.request("sendMessage", { message: "hi" });
  const at: number = sent.timestamp;
  const stop = client.on("message", (m) => {
    const id: string = m.messageId;
    const when: number = m.timestamp + at;
    void id;
    void when;
  });
  client.on("userJoined", (u) => void u.username);
  stop();
  // @ts-expect-error: unknown event names are refused
  client.on("nope", () => {});
  // @ts-expect-error: a request payload must have its required fields
  void client.request("join", {});
  const names: EventName[] = ["join", "sendMessage", "message"];
  void names;
  return joined.users;
}

export function describe(error: WireError): string {
  const code: ErrorCode | undefined = error.code;
  return `${code ?? "unknown"}: ${error.message}`;
}
