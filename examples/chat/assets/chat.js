// Generated from examples/chat/web/chat.ts by scripts/build-web.sh. Do not edit.
// The chat page: name entry, rooms, messages, members, private messages, typing, commands,
// connection status, live server statistics. Every payload is typed by bindings/ through
// the client's event maps; every user string reaches the DOM as text (`textContent`), never
// as HTML.
//
// Messages go through an outbox: shown as "sending…" at once, sent with a random
// `clientId`, and sent again with the same id after a lost connection or a missing answer
// until the server answers (it answers a repeat with its first answer, so nothing is
// stored twice). The outbox is kept in the tab's sessionStorage: after a reload it is sent
// once the user joins again under the same name. A server restart (close 1001) is shown
// as "Server restarting, reconnecting…"; the idle timeout (4000) is not fought: the page
// says why and reconnects when the user acts.
//
// Query parameters (for tests and the curious): `reconnectBase`, `reconnectMax` (backoff in
// ms), `requestTimeout` (ms).
import { HELP, parseCommand, ROOM_NAME } from "./commands.js";
import { CLOSE_IDLE_TIMEOUT, WsxClient, WsxError } from "./wsx-client.js";
const MAX_ITEMS = 500;
const THEME_KEY = "wsx-chat-theme";
const NAME_KEY = "wsx-chat-name";
/** This tab's resume token and the name it belongs to (sessionStorage: one per tab). */
const RESUME_KEY = "wsx-chat-resume";
/**
 * This tab's outbox and the name it belongs to (sessionStorage: it survives a reload of
 * the tab, and is sent once the user joins again under that name).
 */
const OUTBOX_KEY = "wsx-chat-outbox";
/** The close code of a connection whose name a newer connection took back. */
const CLOSE_REPLACED = 4001;
/** The close code of a server going away: its graceful shutdown, a restart. */
const CLOSE_GOING_AWAY = 1001;
/** The pause before an unanswered outbox message is sent again on an open connection. */
const RESEND_PAUSE_MS = 200;
const params = new URLSearchParams(location.search);
const numberParam = (key) => {
    const n = Number(params.get(key));
    return params.has(key) && Number.isFinite(n) && n >= 0 ? n : undefined;
};
const client = new WsxClient({
    url: "/ws",
    requestTimeoutMs: numberParam("requestTimeout") ?? 10_000,
    reconnect: {
        baseDelayMs: numberParam("reconnectBase") ?? 500,
        maxDelayMs: numberParam("reconnectMax") ?? 15_000,
        // Neither the idle timeout nor a newer connection of this user is fought.
        shouldReconnect: (code) => code !== CLOSE_IDLE_TIMEOUT && code !== CLOSE_REPLACED,
    },
});
/**
 * The resume token of the latest join: a re-join presents it, so the server hands the
 * name back at once even while it still holds the old connection (a network that died
 * without closing). Kept per tab, so a reload of the tab can take its name back too.
 */
function resumeTokenFor(name) {
    try {
        const kept = JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? "null");
        return kept !== null && kept.name === name && typeof kept.token === "string" ? kept.token : undefined;
    }
    catch {
        return undefined;
    }
}
function keepResumeToken(name, answer) {
    if (answer.resumeToken === undefined)
        return;
    try {
        sessionStorage.setItem(RESUME_KEY, JSON.stringify({ name, token: answer.resumeToken }));
    }
    catch {
        // Storage refused (private mode): the token only helps, it is not needed.
    }
}
let me = "";
const rooms = new Map();
const threads = new Map();
let activeRooms = [];
let view = null;
let idleTimeoutSecs = 0;
let resuming = false;
/** Messages typed and not answered yet, oldest first (see `Outgoing`). */
let outbox = [];
/** Whether the connection was lost to a server restart (1001), until it is open again. */
let restarting = false;
// ----- DOM helpers -----
function byId(id) {
    const el = document.getElementById(id);
    if (el === null)
        throw new Error(`#${id} is missing from index.html`);
    return el;
}
/** Creates an element; strings become text nodes, never markup. */
function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    if (props.class !== undefined)
        el.className = props.class;
    if (props.title !== undefined)
        el.title = props.title;
    for (const [k, v] of Object.entries(props.attrs ?? {}))
        el.setAttribute(k, v);
    for (const c of children)
        if (c !== null)
            el.append(typeof c === "string" ? document.createTextNode(c) : c);
    return el;
}
const ui = {
    app: byId("app"),
    login: byId("login"),
    loginForm: byId("login-form"),
    loginName: byId("login-name"),
    loginRoom: byId("login-room"),
    loginError: byId("login-error"),
    loginButton: byId("login-button"),
    loginNote: byId("login-note"),
    chat: byId("chat"),
    roomList: byId("room-list"),
    activeList: byId("active-list"),
    pmList: byId("pm-list"),
    joinForm: byId("join-form"),
    joinRoom: byId("join-room"),
    title: byId("view-title"),
    subtitle: byId("view-subtitle"),
    messages: byId("messages"),
    typing: byId("typing"),
    composer: byId("composer"),
    input: byId("input"),
    members: byId("member-list"),
    memberCount: byId("member-count"),
    status: byId("status"),
    statusText: byId("status-text"),
    banner: byId("banner"),
    bannerText: byId("banner-text"),
    bannerAction: byId("banner-action"),
    stats: byId("stats"),
    statsList: byId("stats-list"),
    theme: byId("theme-toggle"),
    toggleRooms: byId("toggle-rooms"),
    toggleMembers: byId("toggle-members"),
    you: byId("you"),
};
// ----- theme -----
function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    ui.theme.setAttribute("aria-label", theme === "dark" ? "Switch to the light theme" : "Switch to the dark theme");
    ui.theme.title = ui.theme.getAttribute("aria-label") ?? "";
    ui.theme.textContent = theme === "dark" ? "☀" : "☾";
}
function initialTheme() {
    const saved = localStorage.getItem(THEME_KEY);
    if (saved === "light" || saved === "dark")
        return saved;
    return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
applyTheme(initialTheme());
ui.theme.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
});
// ----- formatting -----
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
function timeCell(ms) {
    const d = new Date(ms);
    return h("time", { class: "time", title: fullFormat.format(d), attrs: { datetime: d.toISOString() } }, timeFormat.format(d));
}
/** A stable color class for a name, so each person keeps a color. */
function colorClass(name, prefix = "c") {
    let hash = 0;
    for (const ch of name)
        hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
    return `${prefix}${hash % 8}`;
}
function nameCell(name) {
    return h("span", { class: `author ${colorClass(name)}` }, name);
}
function describe(e) {
    if (e instanceof WsxError) {
        if (e.code === "not_open")
            return "not connected: it was not sent";
        if (e.code === "disconnected")
            return "the connection dropped before the answer: it may not have been sent";
        if (e.code === "timeout")
            return "the server did not answer in time";
        const fields = e.fieldErrors.map((f) => `${f.path || "payload"}: ${f.message}`);
        return fields.length > 0 ? `${e.message} (${fields.join("; ")})` : e.message;
    }
    return e instanceof Error ? e.message : String(e);
}
// ----- rendering -----
function currentItems() {
    if (view === null)
        return [];
    if (view.kind === "room")
        return rooms.get(view.name)?.items ?? [];
    return threads.get(view.peer)?.items ?? [];
}
function renderItem(item, previous) {
    if (item.kind === "notice") {
        return h("li", { class: `notice ${item.tone}` }, timeCell(item.at), h("span", { class: "text" }, item.text));
    }
    if (item.kind === "pm") {
        const pm = item.pm;
        const outgoing = pm.from === me;
        const label = outgoing ? `to ${pm.to}` : `from ${pm.from}`;
        return h("li", { class: `msg private${outgoing ? " outgoing" : ""}` }, timeCell(pm.timestamp), h("span", { class: "body" }, h("span", { class: "badge" }, `private ${label}`), " ", h("span", { class: "text" }, pm.message)));
    }
    const m = item.msg;
    if (m.kind === "action") {
        return h("li", { class: "msg action", attrs: { "data-seq": String(m.seq) } }, timeCell(m.timestamp), h("span", { class: "body" }, "* ", nameCell(m.username), " ", h("span", { class: "text" }, m.message)));
    }
    const continued = previous?.kind === "msg" &&
        previous.msg.kind === "message" &&
        previous.msg.username === m.username &&
        m.timestamp - previous.msg.timestamp < 5 * 60_000;
    const mention = me !== "" && m.username !== me && m.message.toLowerCase().includes(me.toLowerCase());
    const cls = `msg${continued ? " cont" : ""}${mention ? " mention" : ""}${m.username === me ? " mine" : ""}`;
    return h("li", { class: cls, attrs: { "data-seq": String(m.seq) } }, timeCell(m.timestamp), h("span", { class: "body" }, nameCell(m.username), h("span", { class: "text" }, m.message)));
}
function nearBottom() {
    const el = ui.messages;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}
/**
 * A message of the outbox: the user's own line, marked "sending…" (`li.pending`, not
 * `li.msg`: it is not in the conversation yet).
 */
function renderPending(o) {
    const attrs = { "data-client-id": o.clientId };
    const sending = h("span", { class: "sending", title: "not answered by the server yet: sent again until it is" }, "sending…");
    if ("peer" in o.to) {
        return h("li", { class: "pending private outgoing", attrs }, timeCell(o.at), h("span", { class: "body" }, h("span", { class: "badge" }, `private to ${o.to.peer}`), " ", h("span", { class: "text" }, o.text), sending));
    }
    if (o.to.kind === "action") {
        return h("li", { class: "pending action mine", attrs }, timeCell(o.at), h("span", { class: "body" }, "* ", nameCell(me), " ", h("span", { class: "text" }, o.text), sending));
    }
    return h("li", { class: "pending mine", attrs }, timeCell(o.at), h("span", { class: "body" }, nameCell(me), h("span", { class: "text" }, o.text), sending));
}
/** The outbox messages of the shown conversation. */
function pendingShown() {
    const v = view;
    if (v === null)
        return [];
    return outbox.filter((o) => (v.kind === "room" ? "room" in o.to && o.to.room === v.name : "peer" in o.to && o.to.peer === v.peer));
}
/** The shown conversation, then its outbox messages (always last: not in the history yet). */
function renderMessages() {
    const items = currentItems();
    const pending = pendingShown();
    const stick = nearBottom();
    ui.messages.replaceChildren(...items.map((item, i) => renderItem(item, items[i - 1])), ...pending.map(renderPending));
    if (items.length === 0 && pending.length === 0) {
        ui.messages.append(h("li", { class: "empty" }, view?.kind === "pm" ? "No private messages yet." : "No messages yet. Say hello!"));
    }
    if (stick)
        ui.messages.scrollTop = ui.messages.scrollHeight;
}
/** Appends the last item of the shown conversation (above the outbox) without rebuilding the list. */
function appendShown(items) {
    const stick = nearBottom();
    ui.messages.querySelector(".empty")?.remove();
    ui.messages.insertBefore(renderItem(items[items.length - 1], items[items.length - 2]), ui.messages.querySelector("li.pending"));
    if (stick)
        ui.messages.scrollTop = ui.messages.scrollHeight;
}
function renderSidebar() {
    ui.roomList.replaceChildren(...[...rooms.values()].map((room) => {
        const selected = view?.kind === "room" && view.name === room.name;
        const button = h("button", { class: `entry${selected ? " selected" : ""}`, attrs: { type: "button", "data-room": room.name } }, h("span", { class: "hash" }, "#"), h("span", { class: "name" }, room.name), h("span", { class: "count", title: "members" }, String(room.users.length)), room.unread > 0 ? h("span", { class: "unread", title: "unread messages" }, String(room.unread)) : null);
        if (selected)
            button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => show({ kind: "room", name: room.name }));
        return h("li", {}, button);
    }));
    const others = activeRooms.filter((r) => !rooms.has(r.name));
    ui.activeList.replaceChildren(...others.map((r) => {
        const button = h("button", { class: "entry other", attrs: { type: "button", "data-room": r.name }, title: `join #${r.name}` }, h("span", { class: "hash" }, "#"), h("span", { class: "name" }, r.name), h("span", { class: "count", title: "members" }, String(r.members)));
        button.addEventListener("click", () => void joinRoom(r.name));
        return h("li", {}, button);
    }));
    ui.activeList.parentElement?.toggleAttribute("hidden", others.length === 0);
    ui.pmList.replaceChildren(...[...threads.values()].map((t) => {
        const selected = view?.kind === "pm" && view.peer === t.peer;
        const button = h("button", { class: `entry${selected ? " selected" : ""}`, attrs: { type: "button", "data-peer": t.peer } }, h("span", { class: "hash" }, "@"), h("span", { class: "name" }, t.peer), t.unread > 0 ? h("span", { class: "unread" }, String(t.unread)) : null);
        button.addEventListener("click", () => show({ kind: "pm", peer: t.peer }));
        return h("li", {}, button);
    }));
    ui.pmList.parentElement?.toggleAttribute("hidden", threads.size === 0);
    const unread = [...rooms.values()].reduce((n, r) => n + r.unread, 0) + [...threads.values()].reduce((n, t) => n + t.unread, 0);
    const where = view === null ? "" : view.kind === "room" ? `#${view.name} · ` : `@${view.peer} · `;
    document.title = `${unread > 0 ? `(${unread}) ` : ""}${where}wsx chat`;
    ui.you.textContent = me;
}
function renderMembers() {
    if (view?.kind !== "room") {
        ui.members.replaceChildren();
        ui.memberCount.textContent = "";
        return;
    }
    const room = rooms.get(view.name);
    const users = room?.users ?? [];
    ui.memberCount.textContent = String(users.length);
    ui.members.replaceChildren(...users.map((u) => {
        const typing = room?.typing.has(u) === true;
        const button = h("button", { class: "entry member", attrs: { type: "button" }, title: u === me ? "you" : `private message to ${u}` }, h("span", { class: `avatar ${colorClass(u, "bg")}`, attrs: { "aria-hidden": "true" } }, [...u][0]?.toUpperCase() ?? "?"), nameCell(u), u === me ? h("span", { class: "you" }, "you") : null, typing ? h("span", { class: "dots" }, "typing") : null);
        if (u !== me)
            button.addEventListener("click", () => openThread(u));
        return h("li", {}, button);
    }));
}
function renderTyping() {
    const room = view?.kind === "room" ? rooms.get(view.name) : undefined;
    const names = room === undefined ? [] : [...room.typing.keys()];
    let text = "";
    if (names.length === 1)
        text = `${names[0]} is typing…`;
    else if (names.length === 2)
        text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2)
        text = "Several people are typing…";
    ui.typing.textContent = text;
    ui.typing.classList.toggle("active", text !== "");
}
function renderHeader() {
    if (view === null) {
        ui.title.textContent = "";
        ui.subtitle.textContent = "";
        ui.input.placeholder = "Type /join <room> to join a room";
        return;
    }
    if (view.kind === "room") {
        const room = rooms.get(view.name);
        ui.title.textContent = `#${view.name}`;
        ui.subtitle.textContent = `${room?.users.length ?? 0} member${room?.users.length === 1 ? "" : "s"}`;
        ui.input.placeholder = `Message #${view.name} — /help for commands`;
    }
    else {
        ui.title.textContent = `@${view.peer}`;
        ui.subtitle.textContent = "private conversation";
        ui.input.placeholder = `Private message to ${view.peer}`;
    }
}
function renderAll() {
    renderSidebar();
    renderHeader();
    renderMessages();
    renderMembers();
    renderTyping();
}
function show(next) {
    stopTyping();
    view = next;
    if (next?.kind === "room") {
        const room = rooms.get(next.name);
        if (room !== undefined)
            room.unread = 0;
    }
    else if (next?.kind === "pm") {
        const t = threads.get(next.peer);
        if (t !== undefined)
            t.unread = 0;
    }
    ui.app.classList.remove("show-rooms", "show-members");
    ui.toggleRooms.setAttribute("aria-expanded", "false");
    ui.toggleMembers.setAttribute("aria-expanded", "false");
    renderAll();
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.input.focus();
}
// ----- conversation updates -----
function pushItem(items, item) {
    items.push(item);
    if (items.length > MAX_ITEMS)
        items.splice(0, items.length - MAX_ITEMS);
}
/** Adds a notice to a room, a thread, or (by default) what is shown. */
function notice(text, tone = "info", target = view) {
    const item = { kind: "notice", text, at: Date.now(), tone };
    let items;
    if (target?.kind === "room")
        items = rooms.get(target.name)?.items;
    else if (target?.kind === "pm")
        items = threads.get(target.peer)?.items;
    if (items === undefined)
        return;
    pushItem(items, item);
    if (sameView(target, view))
        appendShown(items);
}
function sameView(a, b) {
    if (a === null || b === null)
        return a === b;
    if (a.kind === "room" && b.kind === "room")
        return a.name === b.name;
    if (a.kind === "pm" && b.kind === "pm")
        return a.peer === b.peer;
    return false;
}
function newRoom(name) {
    return { name, epoch: "", lastSeq: 0, seen: new Set(), items: [], users: [], typing: new Map(), unread: 0 };
}
/**
 * Adds room messages, each at most once (by seq within the room's epoch), in seq order.
 * Returns how many were new.
 */
function addMessages(room, messages, countUnread) {
    let added = 0;
    let rebuild = false;
    const shown = view?.kind === "room" && view.name === room.name;
    for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
        if (room.seen.has(m.seq))
            continue;
        room.seen.add(m.seq);
        added += 1;
        const typingTimer = room.typing.get(m.username);
        if (typingTimer !== undefined) {
            clearTimeout(typingTimer);
            room.typing.delete(m.username);
        }
        if (m.seq > room.lastSeq) {
            room.lastSeq = m.seq;
            pushItem(room.items, { kind: "msg", msg: m, epoch: room.epoch });
            if (shown && !rebuild)
                appendShown(room.items);
        }
        else {
            // An older message filling a gap: before the first later message of this epoch.
            const at = room.items.findIndex((it) => it.kind === "msg" && it.epoch === room.epoch && it.msg.seq > m.seq);
            room.items.splice(at < 0 ? room.items.length : at, 0, { kind: "msg", msg: m, epoch: room.epoch });
            rebuild = true;
        }
        if (countUnread && !shown && m.username !== me)
            room.unread += 1;
    }
    if (shown && rebuild)
        renderMessages();
    if (added > 0) {
        renderSidebar();
        if (shown)
            renderTyping();
    }
    return added;
}
/** Applies a join answer: users, epoch, and history (replayed or latest). */
function applyJoin(room, answer, resumed) {
    room.users = answer.users;
    const epochChanged = room.epoch !== "" && room.epoch !== answer.epoch;
    if (resumed && (answer.recovered === false || epochChanged)) {
        notice("Some messages sent while you were away are no longer kept; here is the latest history.", "warn", { kind: "room", name: room.name });
    }
    if (epochChanged) {
        // A new history: its seqs start again, so what was shown no longer deduplicates.
        room.seen = new Set();
        room.lastSeq = 0;
    }
    room.epoch = answer.epoch;
    const added = addMessages(room, answer.history, resumed);
    if (resumed) {
        const missed = answer.recovered === true ? added : 0;
        notice(missed > 0 ? `Reconnected: ${missed} message${missed === 1 ? "" : "s"} you missed ${missed === 1 ? "is" : "are"} below.` : "Reconnected.", "info", { kind: "room", name: room.name });
    }
}
/** Messages pushed for rooms whose join answer is still on its way, by room. */
const joining = new Map();
/**
 * Joins a room the page is not in yet. A message sent to the room between the server's
 * join and its answer arrives as a push before the answer: it is kept and returned in
 * `early` rather than dropped.
 */
async function joinNew(username, room) {
    const early = [];
    joining.set(room, early);
    try {
        const resumeToken = resumeTokenFor(username);
        const answer = await client.request("join", { username, room, ...(resumeToken === undefined ? {} : { resumeToken }) });
        keepResumeToken(username, answer);
        return { answer, early };
    }
    finally {
        if (joining.get(room) === early)
            joining.delete(room);
    }
}
async function joinRoom(name) {
    if (rooms.has(name))
        return show({ kind: "room", name });
    try {
        const { answer, early } = await joinNew(me, name);
        if (!answer.success)
            return notice(`Could not join #${name}: ${answer.message}`, "error");
        const room = rooms.get(answer.room) ?? newRoom(answer.room);
        rooms.set(room.name, room);
        applyJoin(room, answer, false);
        addMessages(room, early, false);
        show({ kind: "room", name: room.name });
        notice(answer.message, "info");
    }
    catch (e) {
        notice(`Could not join #${name}: ${describe(e)}`, "error");
    }
}
/** Joins a room without showing it (for the outbox a reload left). */
async function joinQuietly(name) {
    try {
        const { answer, early } = await joinNew(me, name);
        if (!answer.success)
            return;
        const room = rooms.get(answer.room) ?? newRoom(answer.room);
        rooms.set(room.name, room);
        applyJoin(room, answer, false);
        addMessages(room, early, false);
    }
    catch {
        // Its messages are refused, and said so, when the outbox sends them.
    }
}
async function leaveRoom(name) {
    try {
        await client.request("leave", { room: name });
    }
    catch (e) {
        return notice(`Could not leave #${name}: ${describe(e)}`, "error");
    }
    rooms.delete(name);
    if (view?.kind === "room" && view.name === name) {
        const next = [...rooms.keys()].pop();
        show(next === undefined ? null : { kind: "room", name: next });
        if (next === undefined) {
            ui.messages.replaceChildren(h("li", { class: "empty" }, `You left #${name}. Type /join <room> to join a room.`));
        }
    }
    else {
        renderSidebar();
    }
    refreshRooms();
}
function openThread(peer) {
    let t = threads.get(peer);
    if (t === undefined) {
        t = { peer, items: [], seen: new Set(), unread: 0 };
        threads.set(peer, t);
    }
    show({ kind: "pm", peer });
    return t;
}
function addPrivate(pm) {
    const peer = pm.from === me ? pm.to : pm.from;
    let t = threads.get(peer);
    if (t === undefined) {
        t = { peer, items: [], seen: new Set(), unread: 0 };
        threads.set(peer, t);
    }
    if (t.seen.has(pm.messageId))
        return;
    t.seen.add(pm.messageId);
    pushItem(t.items, { kind: "pm", pm });
    const shown = view?.kind === "pm" && view.peer === peer;
    if (shown)
        appendShown(t.items);
    else {
        if (pm.from !== me)
            t.unread += 1;
        // Also inline in the room being read, so a private message is not missed.
        if (view?.kind === "room") {
            const room = rooms.get(view.name);
            if (room !== undefined) {
                pushItem(room.items, { kind: "pm", pm });
                appendShown(room.items);
            }
        }
    }
    renderSidebar();
}
let roomsTimer = null;
/**
 * Refreshes the list of active rooms (debounced) from `GET /api/rooms`: plain HTTP, so a
 * page that only watches does not count as active for the WebSocket's idle timeout.
 */
function refreshRooms() {
    if (roomsTimer !== null)
        return;
    roomsTimer = setTimeout(() => {
        roomsTimer = null;
        fetch("/api/rooms", { headers: { accept: "application/json" } })
            .then((res) => (res.ok ? res.json() : null))
            .then((body) => {
            if (body !== null && Array.isArray(body.rooms)) {
                activeRooms = body.rooms;
                renderSidebar();
            }
        })
            .catch(() => {
            // The list refreshes again on the next room event.
        });
    }, 150);
}
// ----- typing -----
let typingSentAt = 0;
let typingRoom = null;
let typingStop = null;
function noteTyping() {
    if (view?.kind !== "room")
        return;
    const text = ui.input.value;
    if (text.trim() === "" || text.startsWith("/"))
        return stopTyping();
    const now = Date.now();
    if (typingRoom !== view.name || now - typingSentAt > 2500) {
        if (typingRoom !== null && typingRoom !== view.name)
            stopTyping();
        if (client.send("typing", { room: view.name, active: true })) {
            typingSentAt = now;
            typingRoom = view.name;
        }
    }
    if (typingStop !== null)
        clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 3000);
}
function stopTyping() {
    if (typingStop !== null)
        clearTimeout(typingStop);
    typingStop = null;
    if (typingRoom !== null)
        client.send("typing", { room: typingRoom, active: false });
    typingRoom = null;
    typingSentAt = 0;
}
// ----- commands -----
async function run(command) {
    const room = view?.kind === "room" ? view.name : undefined;
    switch (command.kind) {
        case "say":
            if (command.text === "")
                return true;
            if (view?.kind === "pm")
                return sendPrivate(view.peer, command.text);
            if (room === undefined) {
                notice("You are in no room: /join <room> first.", "warn");
                return false;
            }
            return sendToRoom(room, command.text, "message");
        case "me":
            if (room === undefined) {
                notice("/me works in rooms.", "warn");
                return false;
            }
            return sendToRoom(room, command.text, "action");
        case "help":
            notice("Commands: " + HELP.map(([usage, what]) => `${usage} — ${what}`).join(" · ") +
                " · Keys: Enter sends, Alt+↑/↓ switches rooms, Esc closes panels.");
            return true;
        case "rooms": {
            try {
                const list = await client.request("listRooms", {});
                activeRooms = list.rooms;
                renderSidebar();
                notice(list.rooms.length === 0 ? "No rooms have members." :
                    "Rooms: " + list.rooms.map((r) => `#${r.name} (${r.members} member${r.members === 1 ? "" : "s"}, ${r.messages} message${r.messages === 1 ? "" : "s"})`).join(", "));
            }
            catch (e) {
                notice(`/rooms failed: ${describe(e)}`, "error");
            }
            return true;
        }
        case "users": {
            const target = command.room ?? room;
            try {
                const list = await client.request("listUsers", target === undefined ? {} : { room: target });
                notice(`Users in #${list.room}: ${list.users.join(", ") || "nobody"}`);
            }
            catch (e) {
                notice(`/users failed: ${describe(e)}`, "error");
            }
            return true;
        }
        case "join":
            await joinRoom(command.room);
            return true;
        case "leave": {
            const target = command.room ?? room;
            if (target === undefined || !rooms.has(target)) {
                notice(target === undefined ? "usage: /leave <room>" : `You are not in #${target}.`, "warn");
                return false;
            }
            await leaveRoom(target);
            return true;
        }
        case "pm":
            return sendPrivate(command.to, command.text);
        case "nick": {
            // The server knows a message's clientId under the name it was sent with: one sent
            // again under a new name would be stored a second time.
            if (outbox.length > 0) {
                notice(`Wait until your ${outbox.length === 1 ? "message is" : `${outbox.length} messages are`} sent before changing your name.`, "warn");
                return false;
            }
            try {
                const answer = await client.request("setNick", { username: command.name });
                // The resume token goes with the name.
                const token = resumeTokenFor(me);
                if (token !== undefined)
                    keepResumeToken(answer.username, { resumeToken: token });
                me = answer.username;
                localStorage.setItem(NAME_KEY, me);
                keepOutbox();
                renderAll();
                notice(`You are now known as ${answer.username}.`);
            }
            catch (e) {
                notice(`/nick failed: ${describe(e)}`, "error");
                return false;
            }
            return true;
        }
        case "invalid":
            notice(command.message, "warn");
            return false;
    }
}
function sendToRoom(room, text, kind) {
    return queueMessage({ room, kind }, text);
}
function sendPrivate(to, text) {
    return queueMessage({ peer: to }, text);
}
// ----- outbox -----
/** The most messages the outbox holds; past it, typing is refused (the text stays typed). */
const MAX_OUTBOX = 100;
/** 32 random hex digits (`crypto.getRandomValues` works on plain http pages too). */
function newClientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
/**
 * Puts a message into the outbox, shown as "sending…" at once, connected or not; the
 * outbox task sends it. Whether it was taken.
 */
function queueMessage(to, text) {
    if (outbox.length >= MAX_OUTBOX) {
        notice(`${MAX_OUTBOX} messages are still waiting to be sent: wait for the connection before typing more.`, "warn");
        return false;
    }
    outbox.push({ clientId: newClientId(), to, text, at: Date.now() });
    keepOutbox();
    renderMessages();
    void sendOutbox();
    return true;
}
/** Writes the outbox to this tab's sessionStorage, so a reload does not lose it. */
function keepOutbox() {
    try {
        if (outbox.length === 0)
            sessionStorage.removeItem(OUTBOX_KEY);
        else
            sessionStorage.setItem(OUTBOX_KEY, JSON.stringify({ name: me, entries: outbox }));
    }
    catch {
        // Storage refused (private mode): the outbox lives as long as the page.
    }
}
function isOutgoing(x) {
    if (typeof x !== "object" || x === null)
        return false;
    const o = x;
    const to = o.to;
    const target = typeof to === "object" && to !== null &&
        ((typeof to.room === "string" && (to.kind === "message" || to.kind === "action")) || typeof to.peer === "string");
    return target && typeof o.clientId === "string" && typeof o.text === "string" && typeof o.at === "number";
}
/** The outbox a previous page of this tab left, and whose it is. */
function keptOutbox() {
    try {
        const kept = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) ?? "null");
        if (kept === null || typeof kept.name !== "string" || !Array.isArray(kept.entries))
            return null;
        const entries = kept.entries.filter(isOutgoing).slice(0, MAX_OUTBOX);
        return entries.length === 0 ? null : { name: kept.name, entries };
    }
    catch {
        return null;
    }
}
/**
 * After joining as `name`: takes back the outbox a previous page of this tab left under
 * that name, joins the rooms it goes to, and sends it (with the same ids, so what the
 * server already has is answered, not stored again).
 */
async function restoreOutbox(name) {
    const kept = keptOutbox();
    if (kept === null || kept.name !== name)
        return;
    for (const o of kept.entries)
        if (!outbox.some((p) => p.clientId === o.clientId))
            outbox.push(o);
    for (const o of kept.entries) {
        if ("room" in o.to && !rooms.has(o.to.room))
            await joinQuietly(o.to.room);
    }
    keepOutbox();
    renderAll();
    void sendOutbox();
}
/** Whether the outbox task runs. */
let sending = false;
/**
 * Sends the outbox, oldest first, one message at a time, each until the server answers
 * it: after a lost connection or a missing answer it waits for the connection to be
 * open and the rooms re-joined, and sends the same message with the same `clientId`
 * again. A refusal takes it out of the outbox, says why and puts the text back.
 */
async function sendOutbox() {
    if (sending)
        return;
    sending = true;
    try {
        for (let next = outbox[0]; next !== undefined; next = outbox[0]) {
            await whenOpen();
            const outcome = await deliver(next);
            if (outcome === "again") {
                await pause(RESEND_PAUSE_MS);
                continue;
            }
            const o = next;
            outbox = outbox.filter((p) => p.clientId !== o.clientId);
            keepOutbox();
            renderMessages();
            if (outcome !== "sent") {
                const where = "peer" in o.to ? { kind: "pm", peer: o.to.peer } : { kind: "room", name: o.to.room };
                notice(`${"peer" in o.to ? `Private message to ${o.to.peer}` : "Message"} not sent: ${outcome}`, "error", where);
                // Keep what was typed, so nothing is lost.
                if (ui.input.value === "")
                    ui.input.value = "room" in o.to && o.to.kind === "action" ? `/me ${o.text}` : o.text;
            }
        }
    }
    finally {
        sending = false;
    }
}
/**
 * Sends one outbox message: `sent` when answered (shown as sent), `again` when it may not
 * have arrived or its answer was lost, else why the server refused it.
 */
async function deliver(o) {
    try {
        if ("peer" in o.to) {
            const sent = await client.request("sendPrivate", { to: o.to.peer, message: o.text, clientId: o.clientId });
            addPrivate({ messageId: sent.messageId, from: me, to: o.to.peer, message: o.text, timestamp: sent.timestamp });
        }
        else {
            const { room, kind } = o.to;
            const sent = await client.request("sendMessage", { message: o.text, room, kind, clientId: o.clientId });
            // The push of our own message (or the replay after a reconnect) may show it too:
            // `addMessages` keeps one, by seq.
            const r = rooms.get(sent.room);
            if (r !== undefined) {
                addMessages(r, [{ messageId: sent.messageId, username: me, message: o.text, timestamp: sent.timestamp, room: sent.room, seq: sent.seq, kind }], false);
            }
        }
        return "sent";
    }
    catch (e) {
        if (e instanceof WsxError && (e.code === "disconnected" || e.code === "not_open" || e.code === "timeout"))
            return "again";
        return describe(e);
    }
}
/**
 * Resolves once the connection is open and the rooms are re-joined. It does not connect:
 * after a final close (the idle timeout) the user's next key press does.
 */
function whenOpen() {
    if (client.isOpen)
        return resumed;
    return new Promise((resolve) => {
        let stop = () => { };
        stop = client.onState((state) => {
            if (state.kind === "open") {
                // After the onOpen hooks, which start the re-joins (`resumed`).
                queueMicrotask(() => {
                    stop();
                    resolve(resumed);
                });
            }
        });
    });
}
// ----- pushes -----
client.on("welcome", (w) => {
    idleTimeoutSecs = w.idleTimeoutSecs;
    activeRooms = w.rooms;
    renderSidebar();
});
client.on("message", (m) => {
    const room = rooms.get(m.room);
    if (room === undefined) {
        joining.get(m.room)?.push(m);
        return;
    }
    const gap = room.lastSeq > 0 && m.seq > room.lastSeq + 1 && !resuming;
    const after = room.lastSeq;
    addMessages(room, [m], true);
    if (gap)
        void fillGap(room, after);
});
async function fillGap(room, after) {
    try {
        const page = await client.request("history", { room: room.name, after, limit: 100 });
        if (page.epoch === room.epoch)
            addMessages(room, page.messages, false);
    }
    catch {
        // A later re-join with `since` recovers what is still missing.
    }
}
client.on("userJoined", (u) => {
    const room = rooms.get(u.room);
    if (room !== undefined && !room.users.includes(u.username)) {
        room.users = [...room.users, u.username].sort((a, b) => a.localeCompare(b));
        if (u.username !== me)
            notice(`${u.username} joined #${u.room}.`, "info", { kind: "room", name: u.room });
        refreshPeople(u.room);
    }
    refreshRooms();
});
client.on("userLeft", (u) => {
    const room = rooms.get(u.room);
    if (room !== undefined && room.users.includes(u.username)) {
        room.users = room.users.filter((n) => n !== u.username);
        const timer = room.typing.get(u.username);
        if (timer !== undefined)
            clearTimeout(timer);
        room.typing.delete(u.username);
        notice(`${u.username} left #${u.room}.`, "info", { kind: "room", name: u.room });
        refreshPeople(u.room);
    }
    refreshRooms();
});
client.on("nickChanged", (n) => {
    const room = rooms.get(n.room);
    if (room === undefined)
        return;
    room.users = room.users.map((u) => (u === n.oldName ? n.newName : u)).sort((a, b) => a.localeCompare(b));
    // Our own change was told once, by the answer to /nick (it may arrive before or after).
    const mine = n.oldName === me || n.newName === me;
    if (n.oldName === me)
        me = n.newName;
    if (!mine)
        notice(`${n.oldName} is now known as ${n.newName}.`, "info", { kind: "room", name: n.room });
    const thread = threads.get(n.oldName);
    if (thread !== undefined && !threads.has(n.newName)) {
        threads.delete(n.oldName);
        thread.peer = n.newName;
        threads.set(n.newName, thread);
        if (view?.kind === "pm" && view.peer === n.oldName)
            view = { kind: "pm", peer: n.newName };
    }
    renderAll();
});
client.on("privateMessage", addPrivate);
client.on("userTyping", (t) => {
    const room = rooms.get(t.room);
    if (room === undefined || t.username === me)
        return;
    const old = room.typing.get(t.username);
    if (old !== undefined)
        clearTimeout(old);
    if (t.active) {
        // The server stops it by itself; this is only a safety net.
        room.typing.set(t.username, setTimeout(() => {
            room.typing.delete(t.username);
            refreshPeople(t.room);
        }, 8000));
    }
    else {
        room.typing.delete(t.username);
    }
    refreshPeople(t.room);
});
function refreshPeople(roomName) {
    if (view?.kind === "room" && view.name === roomName) {
        renderMembers();
        renderTyping();
        renderHeader();
    }
    renderSidebar();
}
client.onError((e) => {
    console.warn("wsx:", e.code, e.message);
    if (me !== "")
        notice(`Server error (${e.code}): ${e.message}`, "error");
});
// ----- connection -----
let countdown = null;
function renderState(state) {
    if (countdown !== null)
        clearInterval(countdown);
    countdown = null;
    ui.status.dataset.state = state.kind;
    ui.app.dataset.connection = state.kind;
    let banner = null;
    switch (state.kind) {
        case "connecting":
            ui.statusText.textContent = "Connecting…";
            break;
        case "open":
            restarting = false;
            ui.statusText.textContent = "Connected";
            break;
        case "reconnecting": {
            // A restart stays the reason through the attempts refused while the server is down.
            if (state.code === CLOSE_GOING_AWAY)
                restarting = true;
            const until = Date.now() + state.delayMs;
            const tick = () => {
                const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
                ui.statusText.textContent = left > 0 ? `Reconnecting in ${left}s…` : "Reconnecting…";
            };
            tick();
            countdown = setInterval(tick, 250);
            const meanwhile = "messages you send meanwhile are kept and sent when it is back.";
            banner = restarting
                ? { text: `Server restarting, reconnecting… (attempt ${state.attempt}); ${meanwhile}`, action: "Retry now" }
                : {
                    text: `Connection lost${state.reason ? ` (${state.reason})` : ""}. Reconnecting by itself (attempt ${state.attempt}); ${meanwhile}`,
                    action: "Retry now",
                };
            break;
        }
        case "closed":
            restarting = false;
            ui.statusText.textContent = "Disconnected";
            if (state.code === CLOSE_IDLE_TIMEOUT) {
                // The server's decision: not fought, said in words; the user's next act reconnects.
                banner = {
                    text: `Disconnected after ${idleTimeoutSecs > 0 ? spell(idleTimeoutSecs) : "a while"} without activity (the server's idle timeout). Type or press Reconnect to catch up.`,
                    action: "Reconnect",
                };
            }
            else if (state.code === CLOSE_REPLACED) {
                // Not retried: the user is back elsewhere, and this tab's token is spent.
                banner = { text: `“${me}” is now connected from another tab or device, so this page stopped. Reload it to join again.` };
            }
            else {
                banner = { text: `Disconnected${state.reason ? `: ${state.reason}` : ` (code ${state.code})`}.`, action: "Reconnect" };
            }
            break;
    }
    ui.banner.hidden = banner === null;
    ui.bannerText.textContent = banner?.text ?? "";
    ui.bannerAction.textContent = banner?.action ?? "";
    ui.bannerAction.hidden = banner?.action === undefined;
    ui.loginButton.textContent = state.kind === "open" || state.kind === "closed" ? "Join" : "Connecting…";
}
client.onState(renderState);
ui.bannerAction.addEventListener("click", () => {
    if (client.state.kind === "reconnecting")
        client.reconnectNow();
    else
        client.connect();
});
window.addEventListener("online", () => client.reconnectNow());
/** The re-joins after the latest reconnect (resolved when they are done). */
let resumed = Promise.resolve();
/** After a reconnect: join every room again from the last message seen, in order. */
client.onOpen(({ reconnected }) => {
    if (reconnected && me !== "")
        resumed = resume();
});
async function resume() {
    resuming = true;
    try {
        for (const room of [...rooms.values()]) {
            const answer = await rejoin(room);
            if (answer !== null)
                applyJoin(room, answer, true);
        }
    }
    finally {
        resuming = false;
    }
    renderAll();
    refreshRooms();
}
/** Waits `ms`, or less if the connection drops meanwhile (the next resume takes over). */
function pause(ms) {
    return new Promise((resolve) => {
        let stop = () => { };
        const timer = setTimeout(() => {
            stop();
            resolve();
        }, ms);
        stop = client.onState((state) => {
            if (state.kind !== "open") {
                clearTimeout(timer);
                queueMicrotask(() => {
                    stop();
                    resolve();
                });
            }
        });
    });
}
/**
 * Joins a room again after a reconnect, from the last message seen, with the resume
 * token. While the server still gives the name to the old connection (no token yet, or
 * one another tab used since), it retries with growing pauses, up to about a minute:
 * the server lets a dead connection go within its ping timeout.
 */
async function rejoin(room) {
    const where = { kind: "room", name: room.name };
    for (let attempt = 0;; attempt++) {
        if (!client.isOpen)
            return null;
        try {
            const resumeToken = resumeTokenFor(me);
            const answer = await client.request("join", {
                username: me,
                room: room.name,
                ...(room.epoch === "" ? {} : { since: { epoch: room.epoch, seq: room.lastSeq } }),
                ...(resumeToken === undefined ? {} : { resumeToken }),
            });
            if (!answer.success) {
                notice(`Could not re-join #${room.name}: ${answer.message}`, "error", where);
                return null;
            }
            keepResumeToken(me, answer);
            return answer;
        }
        catch (e) {
            const taken = e instanceof WsxError && e.code === "handler_error" && /taken/.test(e.message);
            const retryable = taken || (e instanceof WsxError && (e.code === "rate_limited" || e.code === "timeout"));
            if (!retryable || attempt >= 8) {
                notice(`Could not re-join #${room.name}: ${describe(e)}`, "error", where);
                return null;
            }
            if (attempt === 0 && taken) {
                notice(`The server still holds your name \u201c${me}\u201d for the old connection; trying again…`, "warn", where);
            }
            await pause(Math.min(1_000 * 2 ** attempt, 15_000));
        }
    }
}
/**
 * Resolves once connected and resumed. After a close that is not retried (the idle
 * timeout) it connects again; it does not wait for a pending retry, whose delay the
 * connection state shows.
 */
function whenReady(timeoutMs = 10_000) {
    if (client.isOpen)
        return resumed;
    if (client.state.kind === "closed")
        client.connect();
    return new Promise((resolve, reject) => {
        let stop = () => { };
        const timer = setTimeout(() => {
            stop();
            reject(new WsxError("not_open", "the server cannot be reached"));
        }, timeoutMs);
        stop = client.onState((state) => {
            if (state.kind === "open") {
                clearTimeout(timer);
                queueMicrotask(() => {
                    stop();
                    resolve(resumed);
                });
            }
        });
    });
}
// ----- login -----
ui.loginName.value = localStorage.getItem(NAME_KEY) ?? "";
{
    // A reload with messages still unsent: they go out once the user is back under that name.
    const kept = keptOutbox();
    if (kept !== null) {
        ui.loginName.value = kept.name;
        const n = kept.entries.length;
        ui.loginNote.textContent = `${n} message${n === 1 ? "" : "s"} you typed before the reload ${n === 1 ? "is" : "are"} not sent yet: ${n === 1 ? "it goes" : "they go"} out when you join as ${kept.name}.`;
        ui.loginNote.hidden = false;
    }
}
ui.loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void login();
});
async function login() {
    const name = ui.loginName.value.trim();
    const room = ui.loginRoom.value.trim().replace(/^#/, "") || "general";
    ui.loginError.textContent = "";
    if (name === "" || name.length > 50) {
        ui.loginError.textContent = "Choose a name of 1 to 50 characters.";
        return ui.loginName.focus();
    }
    if (!ROOM_NAME.test(room)) {
        ui.loginError.textContent = "A room name has letters, digits, - and _ (up to 32), starting with a letter or digit.";
        return ui.loginRoom.focus();
    }
    ui.loginButton.disabled = true;
    try {
        if (client.state.kind !== "reconnecting")
            await whenReady();
        const { answer, early } = await joinNew(name, room);
        if (!answer.success) {
            ui.loginError.textContent = answer.message;
            return ui.loginName.focus();
        }
        me = name;
        localStorage.setItem(NAME_KEY, name);
        const r = newRoom(answer.room);
        rooms.set(r.name, r);
        applyJoin(r, answer, false);
        addMessages(r, early, false);
        ui.login.hidden = true;
        ui.chat.hidden = false;
        ui.app.classList.add("joined");
        show({ kind: "room", name: r.name });
        notice(answer.message);
        refreshRooms();
        ui.loginNote.hidden = true;
        await restoreOutbox(name);
    }
    catch (e) {
        ui.loginError.textContent = describe(e);
    }
    finally {
        ui.loginButton.disabled = false;
    }
}
// ----- composer and keys -----
ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const line = ui.input.value;
    if (line.trim() === "")
        return;
    ui.input.value = "";
    stopTyping();
    const command = parseCommand(line);
    if (command.kind === "say" || command.kind === "me" || command.kind === "pm") {
        // Messages go into the outbox whatever the connection; after the idle timeout,
        // sending also reconnects.
        if (client.state.kind === "closed")
            client.connect();
        void run(command).then((ok) => {
            if (!ok && ui.input.value === "")
                ui.input.value = line;
        });
        return;
    }
    // After the idle timeout, a command reconnects (and re-joins) first.
    const ready = client.state.kind === "closed" || client.state.kind === "connecting" ? whenReady() : Promise.resolve();
    void ready.then(() => run(command), (e) => {
        notice(`Not sent: ${describe(e)}`, "error");
        return false;
    }).then((ok) => {
        // Keep what was typed when it did not go out, so nothing is lost.
        if (!ok && ui.input.value === "")
            ui.input.value = line;
    });
});
ui.input.addEventListener("input", noteTyping);
ui.input.addEventListener("keydown", () => {
    if (client.state.kind === "closed" && me !== "")
        client.connect();
});
ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.joinRoom.value.trim().replace(/^#/, "");
    if (!ROOM_NAME.test(name)) {
        notice("A room name has letters, digits, - and _ (up to 32).", "warn");
        return;
    }
    ui.joinRoom.value = "";
    void joinRoom(name);
});
function togglePanel(panel, button) {
    const open = !ui.app.classList.contains(panel);
    ui.app.classList.remove("show-rooms", "show-members");
    ui.toggleRooms.setAttribute("aria-expanded", "false");
    ui.toggleMembers.setAttribute("aria-expanded", "false");
    ui.app.classList.toggle(panel, open);
    button.setAttribute("aria-expanded", String(open));
}
ui.toggleRooms.addEventListener("click", () => togglePanel("show-rooms", ui.toggleRooms));
ui.toggleMembers.addEventListener("click", () => togglePanel("show-members", ui.toggleMembers));
// A tap beside an open drawer closes it.
document.querySelector(".conversation")?.addEventListener("click", () => {
    ui.app.classList.remove("show-rooms", "show-members");
    ui.toggleRooms.setAttribute("aria-expanded", "false");
    ui.toggleMembers.setAttribute("aria-expanded", "false");
});
document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
        ui.app.classList.remove("show-rooms", "show-members");
        if (me !== "")
            ui.input.focus();
    }
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && view?.kind === "room") {
        const names = [...rooms.keys()];
        const i = names.indexOf(view.name);
        const next = names[(i + (event.key === "ArrowDown" ? 1 : names.length - 1)) % names.length];
        if (next !== undefined) {
            event.preventDefault();
            show({ kind: "room", name: next });
        }
    }
});
// ----- live server statistics (SSE /events) -----
function renderStats(stats) {
    if (typeof stats !== "object" || stats === null)
        return;
    const s = stats;
    const num = (...keys) => {
        for (const k of keys)
            if (typeof s[k] === "number")
                return s[k];
        return undefined;
    };
    const rows = [];
    const add = (label, value, fmt = compact) => {
        if (value !== undefined)
            rows.push([label, fmt(value)]);
    };
    add("online", num("users"));
    add("connections", num("connections"));
    add("rooms", num("rooms"));
    add("messages", num("messages"));
    add("uptime", num("uptimeSecs"), duration);
    ui.statsList.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const one = (k, v) => (v === "1" && k.endsWith("s") ? k.slice(0, -1) : k);
    ui.stats.textContent = rows.filter(([k]) => k === "online" || k === "rooms" || k === "messages").map(([k, v]) => `${v} ${one(k, v)}`).join(" · ");
    ui.stats.title = rows.map(([k, v]) => `${k}: ${v}`).join("\n");
}
/** "1 second", "90 seconds", "5 minutes". */
function spell(secs) {
    const [n, unit] = secs >= 60 && secs % 60 === 0 ? [secs / 60, "minute"] : [secs, "second"];
    return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
function compact(n) {
    return n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : String(n);
}
function duration(secs) {
    if (secs < 60)
        return `${Math.floor(secs)}s`;
    if (secs < 3600)
        return `${Math.floor(secs / 60)}m`;
    if (secs < 86_400)
        return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
    return `${Math.floor(secs / 86_400)}d ${Math.floor((secs % 86_400) / 3600)}h`;
}
function startStats() {
    if (typeof EventSource === "undefined")
        return;
    const events = new EventSource("/events");
    const parse = (e) => {
        try {
            return JSON.parse(String(e.data));
        }
        catch {
            return null;
        }
    };
    events.addEventListener("stats", (e) => renderStats(parse(e)));
    for (const name of ["roomCreated", "roomEmptied", "userConnected", "userDisconnected", "userRenamed"]) {
        events.addEventListener(name, refreshRooms);
    }
    // The first `stats` event comes after a few seconds: show the numbers now.
    fetch("/api/stats", { headers: { accept: "application/json" } })
        .then((res) => (res.ok ? res.json() : null))
        .then(renderStats)
        .catch(() => ui.stats.classList.add("stale"));
    events.addEventListener("error", () => ui.stats.classList.add("stale"));
    events.addEventListener("open", () => ui.stats.classList.remove("stale"));
}
// ----- start -----
startStats();
client.connect();
ui.loginName.focus();
