// A small typed browser client for the wsx protocol (version 1, JSON codec).
//
// It is generic over the three event maps that `define_events!` exports to TypeScript
// (`RequestEvents`, `SendEvents`, `PushEvents` in bindings/index.ts), so a wrong event name
// or payload is a compile error:
//
//   const client = new WsxClient<RequestEvents, SendEvents, PushEvents>({ url: "/ws" });
//   client.on("message", (m) => console.log(m.username, m.message));
//   client.connect();
//   const joined = await client.request("join", { username: "alice", room: "general" });
//
// What it does, and why:
// - JSON in text frames with the envelope of PROTOCOL.md (`v`, `t`, `x`, `id`, `w`, `p`, `e`);
//   it offers the `wsx.v1.json` subprotocol so the server answers in JSON from the start.
// - `request` resolves with the `response_ok` payload or rejects with a `WsxError` whose
//   `code`, `message` and `cause` come from the `response_error`; a request that gets no
//   answer within its timeout rejects with code `timeout`.
// - Requests still pending when the connection drops reject with code `disconnected`: they
//   are never re-sent behind the caller's back, since the server may have executed them.
// - `$error` pushes (frames the server could not decode) are surfaced through `onError`.
// - After an unexpected close it reconnects with exponential backoff and full jitter (each
//   attempt waits a random time between 0 and min(max, base * 2^(attempt-1))), and calls the
//   `onOpen` hooks with `reconnected: true`, where an app re-joins its rooms and asks for the
//   messages it missed (the server's replay).
// - Close codes an app should not fight (the idle timeout, 4000) end in the `closed` state;
//   `connect()` starts again.

import type { ErrorCode, FieldError, WireError } from "../../../bindings/index";

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = "1.0";
/** The WebSocket subprotocol that selects the JSON codec. */
export const SUBPROTOCOL_JSON = "wsx.v1.json";
/** The close code a wsx server uses when a connection sent nothing for its idle timeout. */
export const CLOSE_IDLE_TIMEOUT = 4000;

/** The shape every request event has in a `RequestEvents` map. */
export interface RequestShape {
  request: unknown;
  response: unknown;
}

/** A `RequestEvents`-like map: every event has a request and a response type. */
export type RequestMap<R> = { [K in keyof R]: RequestShape };

/** Names usable on the wire (the maps are keyed by strings). */
type Name<M> = keyof M & string;

/** The codes a `WsxError` may carry: the protocol's, and the client's own. */
export type ClientErrorCode =
  | ErrorCode
  /** No response arrived within the request timeout. */
  | "timeout"
  /** The connection dropped while the request was pending; it may or may not have run. */
  | "disconnected"
  /** The client was not connected when the request was made; nothing was sent. */
  | "not_open"
  /** The server sent something this client cannot read. */
  | "bad_response";

/** A failed request, or an error the server pushed (`$error`). */
export class WsxError extends Error {
  /** What kind of failure this is. */
  readonly code: ClientErrorCode;
  /** The event it is about, when known. */
  readonly event: string | undefined;

  constructor(code: ClientErrorCode, message: string, options: { cause?: unknown; event?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WsxError";
    this.code = code;
    this.event = options.event;
  }

  /** Builds the error of a `response_error` frame or of a `$error` push. */
  static fromWire(wire: WireError, event?: string): WsxError {
    const code = typeof wire.code === "string" ? wire.code : "internal";
    const message = typeof wire.message === "string" ? wire.message : "request failed";
    return new WsxError(code, message, { cause: wire.cause, event });
  }

  /** For `invalid_payload`: every failing field, with its JSON-pointer path. */
  get fieldErrors(): FieldError[] {
    if (this.code !== "invalid_payload" || !Array.isArray(this.cause)) return [];
    return this.cause.filter(
      (f): f is FieldError =>
        typeof f === "object" && f !== null && typeof (f as FieldError).path === "string",
    );
  }
}

/** Where the connection is. */
export type ConnectionState =
  /** Opening the first connection (or one asked for with `connect()`). */
  | { kind: "connecting" }
  /** Connected: requests and sends go out. */
  | { kind: "open" }
  /** The connection dropped; the next attempt starts in `delayMs`. */
  | { kind: "reconnecting"; attempt: number; delayMs: number; code: number; reason: string }
  /** Closed for good (by `close()`, or by a close code that is not retried). */
  | { kind: "closed"; code: number; reason: string };

/** Told to `onOpen` hooks each time a connection opens. */
export interface OpenInfo {
  /** `false` for the first connection, `true` for every later one (resume state here). */
  reconnected: boolean;
}

/** The constructor of a WebSocket, replaceable in tests. */
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocket;

/** Reconnection policy. */
export interface ReconnectOptions {
  /** The backoff cap of the first attempt, in ms. Default 500. */
  baseDelayMs?: number;
  /** The largest backoff cap, in ms. Default 15 000. */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row. Default: never. */
  maxAttempts?: number;
  /** A connection open this long resets the attempt count, in ms. Default 3000. */
  stableAfterMs?: number;
  /** Whether to reconnect after a close with this code. Default: all but the idle timeout. */
  shouldReconnect?: (code: number, reason: string) => boolean;
}

/** Options of a `WsxClient`. */
export interface WsxClientOptions {
  /** The WebSocket URL; a path (`/ws`) is resolved against the page's location. */
  url: string;
  /** How long a request waits for its response, in ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Reconnection policy, or `false` to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /** Opens a socket; default `new WebSocket(url, protocols)`. */
  webSocket?: WebSocketFactory;
  /** A random number in [0, 1), for the jitter; default `Math.random`. */
  random?: () => number;
}

/** One frame of the wire protocol, as this client reads it. */
interface Envelope {
  v?: unknown;
  t?: unknown;
  x?: unknown;
  id?: unknown;
  w?: unknown;
  p?: unknown;
  e?: unknown;
}

interface Pending {
  event: string;
  resolve: (payload: unknown) => void;
  reject: (error: WsxError) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Listener = (payload: never) => void;

/**
 * The delay before reconnection attempt `attempt` (1, 2, …): "full jitter", a uniform random
 * time between 0 and min(max, base * 2^(attempt-1)), so clients that lost the same server
 * do not come back in lockstep.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.floor(random() * cap);
}

/** A typed wsx client over one WebSocket that it reopens when it drops. */
export class WsxClient<R extends RequestMap<R>, S extends object, P extends object> {
  private readonly url: string;
  private readonly requestTimeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions> | null;
  private readonly openSocket: WebSocketFactory;
  private readonly random: () => number;

  private socket: WebSocket | null = null;
  private current: ConnectionState = { kind: "closed", code: 1000, reason: "not connected yet" };
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly errorListeners = new Set<(error: WsxError) => void>();
  private readonly openListeners = new Set<(info: OpenInfo) => void | Promise<void>>();
  private attempt = 0;
  private everOpened = false;
  private openedAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 0;

  constructor(options: WsxClientOptions) {
    this.url = options.url;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.random = options.random ?? Math.random;
    this.openSocket = options.webSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    const r = options.reconnect;
    this.reconnect =
      r === false
        ? null
        : {
            baseDelayMs: r?.baseDelayMs ?? 500,
            maxDelayMs: r?.maxDelayMs ?? 15_000,
            maxAttempts: r?.maxAttempts ?? Number.POSITIVE_INFINITY,
            stableAfterMs: r?.stableAfterMs ?? 3_000,
            shouldReconnect: r?.shouldReconnect ?? ((code) => code !== CLOSE_IDLE_TIMEOUT),
          };
  }

  /** The connection state now. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Whether requests and sends go out now. */
  get isOpen(): boolean {
    return this.current.kind === "open";
  }

  /** Opens the connection (again, after `close()` or a close that was not retried). */
  connect(): void {
    if (this.socket !== null) return;
    this.clearRetry();
    this.attempt = 0;
    this.open();
  }

  /** Skips the wait of a pending reconnection attempt (e.g. when the network comes back). */
  reconnectNow(): void {
    if (this.current.kind === "reconnecting" && this.socket === null) {
      this.clearRetry();
      this.open();
    }
  }

  /** Closes the connection for good; pending requests fail with `disconnected`. */
  close(code = 1000, reason = "closed by the client"): void {
    this.clearRetry();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      detach(socket);
      socket.close(code, reason);
    }
    this.failPending("the connection was closed");
    this.setState({ kind: "closed", code, reason });
  }

  /**
   * Sends request `name` and resolves with its response payload. Rejects with a `WsxError`:
   * the server's code for a `response_error`, `timeout`, `disconnected` or `not_open`.
   */
  request<K extends Name<R>>(
    name: K,
    payload: R[K]["request"],
    options: { timeoutMs?: number } = {},
  ): Promise<R[K]["response"]> {
    const socket = this.socket;
    if (socket === null || this.current.kind !== "open") {
      return Promise.reject(new WsxError("not_open", "not connected", { event: name }));
    }
    this.nextId += 1;
    const id = `${Date.now().toString(36)}-${this.nextId}-${Math.floor(this.random() * 1e9).toString(36)}`;
    const frame: Envelope = { v: PROTOCOL_VERSION, t: "request", x: name, id, w: Date.now(), p: payload };
    return new Promise<R[K]["response"]>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new WsxError("timeout", `no response to ${name} within ${timeoutMs} ms`, { event: name }));
      }, timeoutMs);
      this.pending.set(id, { event: name, resolve: resolve as (p: unknown) => void, reject, timer });
      try {
        socket.send(JSON.stringify(frame));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new WsxError("disconnected", "the request could not be sent", { cause: e, event: name }));
      }
    });
  }

  /** Sends the one-way event `name`; returns whether it went out (false when not connected). */
  send<K extends Name<S>>(name: K, payload: S[K]): boolean {
    if (this.socket === null || this.current.kind !== "open") return false;
    try {
      this.socket.send(JSON.stringify({ v: PROTOCOL_VERSION, t: "send", x: name, p: payload }));
      return true;
    } catch {
      return false;
    }
  }

  /** Calls `callback` with every push `name`; returns a function that stops it. */
  on<K extends Name<P>>(name: K, callback: (payload: P[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(callback as Listener);
    return () => this.off(name, callback);
  }

  /** Stops calling `callback` for push `name`. */
  off<K extends Name<P>>(name: K, callback: (payload: P[K]) => void): void {
    this.listeners.get(name)?.delete(callback as Listener);
  }

  /** Calls `callback` on every state change (and once now); returns a function that stops it. */
  onState(callback: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(callback);
    callback(this.current);
    return () => this.stateListeners.delete(callback);
  }

  /** Calls `callback` with every `$error` push and every frame that cannot be read. */
  onError(callback: (error: WsxError) => void): () => void {
    this.errorListeners.add(callback);
    return () => this.errorListeners.delete(callback);
  }

  /**
   * Calls `callback` each time a connection opens, after the state is `open`. On a reconnect
   * (`reconnected: true`) this is where an app restores its server-side state: re-joins its
   * rooms and fetches what it missed. Nothing is re-sent automatically.
   */
  onOpen(callback: (info: OpenInfo) => void | Promise<void>): () => void {
    this.openListeners.add(callback);
    return () => this.openListeners.delete(callback);
  }

  // ----- internals -----

  private open(): void {
    if (this.attempt === 0) this.setState({ kind: "connecting" });
    let socket: WebSocket;
    try {
      socket = this.openSocket(resolveUrl(this.url), [SUBPROTOCOL_JSON]);
    } catch (e) {
      this.report(new WsxError("bad_response", "cannot open the WebSocket", { cause: e }));
      this.closed(1006, "cannot open the WebSocket");
      return;
    }
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      this.openedAt = Date.now();
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.setState({ kind: "open" });
      for (const hook of [...this.openListeners]) {
        try {
          const done = hook({ reconnected });
          if (done instanceof Promise) done.catch((e: unknown) => this.report(asWsxError(e)));
        } catch (e) {
          this.report(asWsxError(e));
        }
      }
    };
    socket.onmessage = (event: MessageEvent) => this.receive(event.data);
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code, event.reason);
    };
  }

  private closed(code: number, reason: string): void {
    const wasStable = this.openedAt > 0 && Date.now() - this.openedAt >= (this.reconnect?.stableAfterMs ?? 0);
    this.openedAt = 0;
    this.failPending(reason === "" ? `the connection closed (${code})` : `the connection closed: ${reason}`);
    const policy = this.reconnect;
    if (policy === null || !policy.shouldReconnect(code, reason)) {
      this.setState({ kind: "closed", code, reason });
      return;
    }
    if (wasStable) this.attempt = 0;
    this.attempt += 1;
    if (this.attempt > policy.maxAttempts) {
      this.attempt = 0;
      this.setState({ kind: "closed", code, reason });
      return;
    }
    const delayMs = backoffDelay(this.attempt, policy.baseDelayMs, policy.maxDelayMs, this.random);
    this.setState({ kind: "reconnecting", attempt: this.attempt, delayMs, code, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delayMs);
  }

  private receive(data: unknown): void {
    let text: string;
    if (typeof data === "string") text = data;
    else if (data instanceof ArrayBuffer) text = new TextDecoder().decode(data);
    else return this.report(new WsxError("bad_response", "unexpected frame type"));
    let frame: Envelope;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      frame = parsed as Envelope;
    } catch (e) {
      return this.report(new WsxError("bad_response", "the server sent a frame that is not a JSON object", { cause: e }));
    }
    const name = typeof frame.x === "string" ? frame.x : "";
    switch (frame.t) {
      case "response_ok":
      case "response_error": {
        const pending = typeof frame.id === "string" ? this.pending.get(frame.id) : undefined;
        if (pending === undefined) return; // late answer to a request that timed out
        this.pending.delete(frame.id as string);
        clearTimeout(pending.timer);
        if (frame.t === "response_ok") pending.resolve(frame.p);
        else pending.reject(WsxError.fromWire(asWireError(frame.e), pending.event));
        return;
      }
      case "send": {
        if (name === "$error") return this.report(WsxError.fromWire(asWireError(frame.p)));
        const set = this.listeners.get(name);
        if (set === undefined) return;
        for (const listener of [...set]) {
          try {
            (listener as (p: unknown) => void)(frame.p);
          } catch (e) {
            // A failing listener must not stop the others, nor the socket.
            setTimeout(() => {
              throw e;
            });
          }
        }
        return;
      }
      default:
        return this.report(new WsxError("bad_response", `unknown frame type ${String(frame.t)}`, { event: name }));
    }
  }

  private failPending(why: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new WsxError("disconnected", `${p.event}: ${why}; it may or may not have run`, { event: p.event }));
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }

  private report(error: WsxError): void {
    for (const listener of [...this.errorListeners]) listener(error);
  }
}

function detach(socket: WebSocket): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
}

function resolveUrl(url: string): string {
  if (/^wss?:\/\//.test(url) || typeof location === "undefined") return url;
  const base = new URL(url, location.href);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  return base.toString();
}

function asWireError(e: unknown): WireError {
  if (typeof e === "object" && e !== null && typeof (e as WireError).message === "string") return e as WireError;
  return { message: "the server reported an error without a message" };
}

function asWsxError(e: unknown): WsxError {
  if (e instanceof WsxError) return e;
  return new WsxError("internal", e instanceof Error ? e.message : String(e), { cause: e });
}
