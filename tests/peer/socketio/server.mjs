#!/usr/bin/env node
// The reference peer: what a developer would build for Twinline's job with
// Socket.IO 4.8, so the benchmarks can put Twinline's relay beside it
// (twinline-bench compare and steady; docs/benchmarks.md, "The reference
// peer"). One chat is one room: its visitor and the operator who accepted it
// are members, and a message is stored, acked to its writer, and emitted to
// the room's other members.
//
//   node tests/peer/socketio/server.mjs --listen 127.0.0.1:0 --mode durable --data-dir DIR
//
// Modes:
//   durable  SQLite (better-sqlite3) in WAL with synchronous=FULL, like the
//            relay. Writes are INSERT OR IGNORE by the client's message id
//            (a replay is acked again, as on the relay), and an ack is sent
//            only after its transaction has committed. Writes that arrive in
//            one turn of the event loop are committed together in one
//            transaction (one fsync): Socket.IO's natural group commit,
//            since better-sqlite3 blocks the loop while it commits.
//   memory   The same in a Map: acked at once, gone when the process dies.
//
// What makes the comparison fair: the same load generator drives both over
// the same WebSocket library with the same JSON messages; both store before
// they ack (durable mode) and fsync on commit; both merge by id; both answer
// a reconnecting client with what it lacks and what the server lacks; CPU
// is read from /proc of the server processes only.
// What does not: this peer does less per message than a relay. It has no
// replication (no change feed to append to, no peer to serve), no moderator
// or failover, no accounts (operators are not authenticated, visitors carry
// no signed token), no rate limits, no chat status/preview rows updated per
// message, no metrics, no tracing. And one Node process uses one core for
// JavaScript (SQLite commits block the same thread), where the relay spreads
// over all cores; that is Socket.IO's usual deployment on one machine.
//
// Events (JSON arguments; the handshake auth names who connects):
//   auth {role:"visitor", chat, visitor, have:[ids]} | {role:"operator", operator, have:{chat:[ids]}}
//   server -> client  welcome {chats:[{chat, missing:[msg], lacking:[id]}]}
//   client -> server  send msg, ack -> {id} | {id, error}
//   client -> server  accept {chat}, ack -> {chat, missing:[msg]}   (operators)
//   server -> client  message msg                                   (the room's others)
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const USAGE = `Usage: node tests/peer/socketio/server.mjs [--listen HOST:PORT] [--mode durable|memory] [--data-dir DIR]

The Socket.IO reference peer for twinline-bench (see docs/benchmarks.md).

  --listen HOST:PORT   address to listen on (default 127.0.0.1:0, a free port)
  --mode MODE          durable: SQLite WAL + synchronous=FULL, ack after commit (default)
                       memory:  messages in a Map, acked at once
  --data-dir DIR       where durable mode keeps peer.db (default: the current directory)
  -h, --help           print this and exit

Prints "socketio-peer listening on http://HOST:PORT" once it accepts connections.`;

/** Chat text limit, the same as the relay's (docs/PROTOCOL.md). */
const MAX_TEXT = 4000;
/** Ids are 26-character ULIDs made by the client. */
const ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

let args;
try {
  args = parseArgs({
    options: {
      listen: { type: "string", default: "127.0.0.1:0" },
      mode: { type: "string", default: "durable" },
      "data-dir": { type: "string", default: "." },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (error) {
  console.error(`socketio-peer: ${error.message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.mode !== "durable" && args.mode !== "memory") {
  console.error(`socketio-peer: --mode is durable or memory, not ${JSON.stringify(args.mode)}`);
  process.exit(2);
}
const at = args.listen.lastIndexOf(":");
const host = args.listen.slice(0, at);
const port = Number(args.listen.slice(at + 1));

const store = args.mode === "durable" ? await durableStore(args["data-dir"]) : memoryStore();

const http = createServer((_request, response) => {
  response.writeHead(404).end();
});
const io = new Server(http, { serveClient: false });
const room = (chat) => `chat:${chat}`;

io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const role = auth.role === "operator" ? "operator" : "visitor";
  let resume;
  if (role === "visitor") {
    if (!ID.test(auth.chat || "") || !ID.test(auth.visitor || "")) {
      socket.disconnect(true);
      return;
    }
    socket.data = { role, id: auth.visitor, chat: auth.chat };
    socket.join(room(auth.chat));
    resume = { [auth.chat]: Array.isArray(auth.have) ? auth.have : [] };
  } else {
    socket.data = { role, id: String(auth.operator || "operator") };
    resume = auth.have && typeof auth.have === "object" ? auth.have : {};
    for (const chat of Object.keys(resume)) socket.join(room(chat));
  }
  const chats = Object.entries(resume).map(([chat, have]) => sync(chat, have));
  socket.emit("welcome", { chats });

  socket.on("send", (msg, ack) => {
    if (typeof ack !== "function") return;
    const refusal = refuse(socket, msg);
    if (refusal) {
      ack({ id: msg?.id ?? null, error: refusal });
      return;
    }
    store.write(
      (db) => db.insert(msg),
      (error) => {
        if (error) {
          ack({ id: msg.id, error: "unavailable" });
          return;
        }
        ack({ id: msg.id });
        socket.to(room(msg.chat)).emit("message", msg);
      },
    );
  });

  socket.on("accept", (request, ack) => {
    if (typeof ack !== "function") return;
    const chat = request?.chat;
    if (socket.data.role !== "operator" || !ID.test(chat || "")) {
      ack({ chat: chat ?? null, error: "forbidden" });
      return;
    }
    store.write(
      (db) => db.accept(chat, socket.data.id),
      (error) => {
        if (error) {
          ack({ chat, error: "unavailable" });
          return;
        }
        socket.join(room(chat));
        ack({ chat, missing: store.messages(chat) });
      },
    );
  });
});

/** Why `msg` may not be stored from this socket, or null. */
function refuse(socket, msg) {
  if (!msg || typeof msg !== "object" || !ID.test(msg.id || "") || !ID.test(msg.chat || "")) {
    return "bad_frame";
  }
  if (typeof msg.text !== "string" || msg.text.length > MAX_TEXT || !Number.isSafeInteger(msg.lamport)) {
    return "bad_text";
  }
  const author = msg.author || {};
  if (author.role !== socket.data.role || author.id !== socket.data.id) return "forbidden";
  if (socket.data.role === "visitor" ? msg.chat !== socket.data.chat : !socket.rooms.has(room(msg.chat))) {
    return "forbidden";
  }
  return null;
}

/** What a client holding `have` of `chat` lacks, and what the store lacks. */
function sync(chat, have) {
  const held = new Set(have);
  const messages = ID.test(chat) ? store.messages(chat) : [];
  const stored = new Set(messages.map((m) => m.id));
  return {
    chat,
    missing: messages.filter((m) => !held.has(m.id)),
    lacking: [...held].filter((id) => !stored.has(id)),
  };
}

/** SQLite through better-sqlite3, committed once per event-loop turn. */
async function durableStore(dir) {
  const { default: Database } = await import("better-sqlite3");
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, "peer.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      id TEXT PRIMARY KEY, chat TEXT NOT NULL, lamport INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat, lamport, id);
    CREATE TABLE IF NOT EXISTS chats (
      chat TEXT PRIMARY KEY, operator TEXT, state TEXT NOT NULL);
  `);
  const insert = db.prepare("INSERT OR IGNORE INTO messages (id, chat, lamport, body) VALUES (?, ?, ?, ?)");
  const accept = db.prepare(
    "INSERT INTO chats (chat, operator, state) VALUES (?, ?, 'active') " +
      "ON CONFLICT (chat) DO UPDATE SET operator = excluded.operator, state = 'active'",
  );
  const transcript = db.prepare("SELECT body FROM messages WHERE chat = ? ORDER BY lamport, id");
  const writes = {
    insert: (msg) => insert.run(msg.id, msg.chat, msg.lamport, JSON.stringify(msg)),
    accept: (chat, operator) => accept.run(chat, operator),
  };
  const commit = db.transaction((jobs) => {
    for (const job of jobs) job.write(writes);
  });
  let pending = [];
  const flush = () => {
    const jobs = pending;
    pending = [];
    let failure = null;
    try {
      commit(jobs);
    } catch (error) {
      failure = error;
      console.error(`socketio-peer: commit failed: ${error.message}`);
    }
    for (const job of jobs) job.done(failure);
  };
  process.on("SIGTERM", () => {
    db.close();
    process.exit(0);
  });
  return {
    write(write, done) {
      pending.push({ write, done });
      if (pending.length === 1) setImmediate(flush);
    },
    messages: (chat) => transcript.all(chat).map((row) => JSON.parse(row.body)),
  };
}

/** Messages in a Map: the same merge by id, no durability. */
function memoryStore() {
  const chats = new Map();
  const chatOf = (chat) => {
    let entry = chats.get(chat);
    if (!entry) {
      entry = { ids: new Set(), messages: [] };
      chats.set(chat, entry);
    }
    return entry;
  };
  const writes = {
    insert(msg) {
      const entry = chatOf(msg.chat);
      if (!entry.ids.has(msg.id)) {
        entry.ids.add(msg.id);
        entry.messages.push(msg);
      }
    },
    accept(chat, operator) {
      chatOf(chat).operator = operator;
    },
  };
  process.on("SIGTERM", () => process.exit(0));
  return {
    write(write, done) {
      write(writes);
      done(null);
    },
    messages: (chat) =>
      [...(chats.get(chat)?.messages || [])].sort(
        (a, b) => a.lamport - b.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      ),
  };
}

http.listen(port, host, () => {
  const address = http.address();
  console.log(`socketio-peer listening on http://${address.address}:${address.port}`);
});
