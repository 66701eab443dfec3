// Every WebSocket frame a page sends and receives, with when (the test's
// clock), for tests that check what went over the wire and when: a ping
// sent at once when the browser says the network or the page came back.

/** Starts recording `page`'s WebSocket frames; call before its sockets open. */
export function watchFrames(page) {
  const frames = [];
  page.on('websocket', (ws) => {
    const url = ws.url();
    const note = (dir) => (frame) => frames.push({ at: Date.now(), dir, url, payload: String(frame.payload) });
    ws.on('framesent', note('sent'));
    ws.on('framereceived', note('received'));
    ws.on('close', () => frames.push({ at: Date.now(), dir: 'closed', url, payload: '' }));
    frames.push({ at: Date.now(), dir: 'opened', url, payload: '' });
  });
  return frames;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const type = (frame) => {
  try {
    return JSON.parse(frame.payload).type;
  } catch {
    return null;
  }
};

/** Waits until `find()` returns something (polling), or fails saying `what`. */
export async function waitFor(find, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Fires `fire()` right after a pong arrived (so the heartbeat's own next
 * ping is a whole `heartbeat_interval` away) and returns the first ping
 * sent after it: how long after the event it went, and how long after the
 * last frame received (a heartbeat ping always comes a second or more
 * after one).
 */
export async function pingAfter(frames, fire, what) {
  const seen = frames.length;
  await waitFor(() => frames.slice(seen).some((f) => f.dir === 'received' && type(f) === 'pong'), 5_000, `a pong before ${what}`);
  const firedAt = Date.now();
  await fire();
  const ping = await waitFor(
    () => frames.find((f) => f.at >= firedAt && f.dir === 'sent' && type(f) === 'ping'),
    3_000,
    `a ping after ${what}`,
  );
  const heard = frames.filter((f) => f.dir === 'received' && f.at <= ping.at).at(-1);
  return { delay: ping.at - firedAt, sinceHeard: ping.at - heard.at };
}
