// Polling for a state the page reaches in its own time: the browser tests'
// one way to wait on something that has no event to await.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read()` until `predicate` holds of it. */
export async function until(read, predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let value;
  for (;;) {
    try {
      value = await read();
      if (predicate(value)) return value;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last ${JSON.stringify(value)}`);
    await sleep(50);
  }
}
