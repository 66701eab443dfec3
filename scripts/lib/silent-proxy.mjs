// A TCP proxy that can go silent.
//
// The hardest failure in docs/FAILURES.md is not a crash but a link that stops
// carrying packets without closing: no FIN, no RST, the socket just goes
// quiet. `freeze()` reproduces that: every connection stays open but nothing
// is forwarded in either direction, and new connections are accepted and then
// ignored, exactly as a black-holed route looks from the client. `thaw()`
// resumes forwarding for new connections (frozen ones stay dead, as they
// would after a real outage). Only ever listens on and connects to loopback.

import net from 'node:net';

export class SilentProxy {
  /** @param {{ targetPort: number, listenPort?: number }} options */
  constructor({ targetPort, listenPort = 0 }) {
    this.targetPort = targetPort;
    this.listenPort = listenPort;
    this.frozen = false;
    this.pairs = new Set();
    this.server = net.createServer((client) => this.#accept(client));
  }

  /** Starts listening on 127.0.0.1; resolves to the port. */
  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    return this.port;
  }

  #accept(client) {
    client.on('error', () => {});
    if (this.frozen) {
      // Accept, then never answer: the black hole.
      client.pause();
      this.pairs.add({ client, upstream: null, frozen: true });
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    const pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (!pair.frozen) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      if (pair.frozen) return; // a frozen link never reports its end
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', close);
    upstream.on('close', close);
  }

  /** Stop forwarding on every connection, silently. */
  freeze() {
    this.frozen = true;
    for (const pair of this.pairs) pair.frozen = true;
  }

  /** Forward again, for new connections. */
  thaw() {
    this.frozen = false;
  }

  /** Closes everything. */
  async stop() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.pairs.clear();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
