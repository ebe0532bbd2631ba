// The slash commands of the chat, as the terminal client (wsx-chat-cli) knows them.
// Parsing only: chat.ts runs them. Kept apart so the grammar is easy to read and test.

/** A line the user typed, understood. */
export type Command =
  | { kind: "say"; text: string }
  | { kind: "help" }
  | { kind: "rooms" }
  | { kind: "users"; room?: string }
  | { kind: "join"; room: string }
  | { kind: "leave"; room?: string }
  | { kind: "pm"; to: string; text: string }
  | { kind: "nick"; name: string }
  | { kind: "me"; text: string }
  | { kind: "invalid"; message: string };

/** The commands with their usage, for `/help`. */
export const HELP: ReadonlyArray<readonly [string, string]> = [
  ["/help", "show this list"],
  ["/rooms", "list the rooms that have members"],
  ["/users [room]", "list the users of a room (default: this one)"],
  ["/join <room>", "join a room, or switch to it"],
  ["/leave [room]", "leave a room (default: this one)"],
  ["/pm <user> <message>", "send a private message"],
  ["/nick <name>", "change your name"],
  ["/me <action>", "say what you do: “/me waves” shows “alice waves”"],
];

/** The pattern the server accepts for room names. */
export const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** Understands one line of the composer. A line starting with `//` sends a literal `/`. */
export function parseCommand(line: string): Command {
  const text = line.trim();
  if (!text.startsWith("/") || text.startsWith("//")) {
    return { kind: "say", text: text.startsWith("//") ? text.slice(1) : text };
  }
  const space = text.search(/\s/);
  const name = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
  const rest = space < 0 ? "" : text.slice(space).trim();
  const words = rest === "" ? [] : rest.split(/\s+/);
  switch (name) {
    case "help":
    case "?":
      return { kind: "help" };
    case "rooms":
      return { kind: "rooms" };
    case "users":
    case "who":
      return words[0] === undefined ? { kind: "users" } : { kind: "users", room: stripHash(words[0]) };
    case "join":
    case "j": {
      const room = words[0] === undefined ? "" : stripHash(words[0]);
      if (!ROOM_NAME.test(room)) {
        return { kind: "invalid", message: "usage: /join <room> (letters, digits, - and _, up to 32)" };
      }
      return { kind: "join", room };
    }
    case "leave":
    case "part":
      return words[0] === undefined ? { kind: "leave" } : { kind: "leave", room: stripHash(words[0]) };
    case "pm":
    case "msg": {
      const to = words[0] ?? "";
      const body = rest.slice(to.length).trim();
      if (to === "" || body === "") return { kind: "invalid", message: "usage: /pm <user> <message>" };
      return { kind: "pm", to: to.replace(/^@/, ""), text: body };
    }
    case "nick": {
      if (rest === "" || rest.length > 50) return { kind: "invalid", message: "usage: /nick <name> (1 to 50 characters)" };
      return { kind: "nick", name: rest };
    }
    case "me":
      if (rest === "") return { kind: "invalid", message: "usage: /me <action>" };
      return { kind: "me", text: rest };
    default:
      return { kind: "invalid", message: `unknown command /${name}; /help lists them` };
  }
}

function stripHash(room: string): string {
  return room.replace(/^#/, "");
}
