#!/usr/bin/env python3
"""Attacks a running relay's transport the way an outsider would, and says
what held.

    python3 scripts/attack-transport.py http://127.0.0.1:7001 [--site demo] [--origin http://localhost:8080]

Only loopback targets are accepted. Each attack is bounded in count and
time and stops by itself:

1. 1,100 idle TCP connections that never send a byte;
2. 200 half-sent request heads;
3. a WebSocket that never says hello;
4. 10,000 pings on one WebSocket (JSON pings before hello, then
   WebSocket control pings on a second socket);

and while 1. and 2. are held, an honest client asks for health, a visitor
token and says hello with it. Standard library only (no install step), so
it runs against any build, before and after a change.
"""

import argparse
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
import urllib.parse


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def closed_within(reader, seconds):
    """Seconds until the server closed the socket, or None if it stayed."""
    start = time.monotonic()
    try:
        while True:
            data = await asyncio.wait_for(reader.read(4096), timeout=seconds)
            if not data:
                return time.monotonic() - start
    except asyncio.TimeoutError:
        return None
    except (ConnectionError, OSError):
        return time.monotonic() - start


# The honest client comes from another loopback address than the attacker,
# as another visitor would (per-address caps are the point).
HONEST = ("127.0.0.2", 0)


async def http(host, port, method, path, body=None, origin=None, timeout=5.0):
    """One request on a fresh connection: (status, body) or an error string."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=HONEST), timeout)
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        if origin:
            head += f"Origin: {origin}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        status = int(raw.split(b" ", 2)[1]) if raw else 0
        text = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
        return status, text, time.monotonic() - start
    except Exception as error:  # noqa: BLE001 (the report says what failed)
        return f"failed: {type(error).__name__} {error}", b"", time.monotonic() - start


def ws_frame(opcode, payload):
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def ws_open(host, port, origin, local_addr=None):
    reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET /v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if origin:
        head += f"Origin: {origin}\r\n"
    writer.write((head + "\r\n").encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = int(response.split(b" ", 2)[1])
    return reader, writer, status


async def send_all(writer, data):
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError):
        pass


async def ws_read_frame(reader, timeout):
    """(opcode, payload) of the next frame, or None when the socket ended."""
    try:
        first = await asyncio.wait_for(reader.readexactly(2), timeout)
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return None
    opcode = first[0] & 0x0F
    length = first[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    payload = await reader.readexactly(length)
    return opcode, payload


async def ws_until_close(reader, timeout):
    """Reads frames until a close frame or the end: (close code, frames seen, seconds)."""
    start = time.monotonic()
    seen = 0
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "still open", seen, time.monotonic() - start
        try:
            frame = await ws_read_frame(reader, left)
        except asyncio.TimeoutError:
            return "still open", seen, time.monotonic() - start
        except asyncio.IncompleteReadError:
            frame = None
        if frame is None:
            return "ended without a close frame", seen, time.monotonic() - start
        opcode, payload = frame
        if opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return code, seen, time.monotonic() - start
        seen += 1


async def honest(host, port, site, origin, label):
    health = await http(host, port, "GET", "/v1/health")
    token = await http(host, port, "POST", "/v1/visitor/token", {"site": site}, origin)
    chat = "not tried"
    if token[0] == 200:
        try:
            reader, writer, status = await asyncio.wait_for(
                ws_open(host, port, origin, HONEST), 5)
            claim = json.loads(token[1])
            hello = {"type": "hello", "v": 1, "role": "visitor", "site": site,
                     "token": claim["token"], "resume": []}
            writer.write(ws_frame(0x1, json.dumps(hello).encode()))
            await writer.drain()
            frame = await ws_read_frame(reader, 5)
            chat = "welcome" if frame and b'"welcome"' in frame[1] else f"no welcome: {frame!r:.80}"
            writer.close()
        except Exception as error:  # noqa: BLE001
            chat = f"failed: {type(error).__name__} {error}"
    print(f"  honest client {label}: health {health[0]} in {health[2]:.2f} s, "
          f"token {token[0]} in {token[2]:.2f} s, chat: {chat}")
    return health[0] == 200 and token[0] == 200 and chat == "welcome"


async def idle_connections(host, port, count):
    opened, refused = [], 0
    for _ in range(count):
        try:
            opened.append(await asyncio.wait_for(asyncio.open_connection(host, port), 2))
        except Exception:  # noqa: BLE001
            refused += 1
    return opened, refused


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--site", default="demo")
    parser.add_argument("--origin", default="http://localhost:8080")
    parser.add_argument("--hold", type=float, default=12.0, help="seconds to watch held sockets")
    args = parser.parse_args()
    target = urllib.parse.urlparse(args.url)
    host, port = target.hostname, target.port or 80
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        sys.exit("only loopback targets")
    print(f"fd limit here: {raise_fd_limit()}")
    ok = await honest(host, port, args.site, args.origin, "before the attacks")

    print("1. 1,100 idle TCP connections")
    idle, refused = await idle_connections(host, port, 1100)
    print(f"  connected {len(idle)}, refused at connect {refused}")
    await asyncio.sleep(1)
    ok &= await honest(host, port, args.site, args.origin, "while 1,100 idle are held")
    closes = await asyncio.gather(*(closed_within(r, args.hold) for r, _ in idle))
    closed = [c for c in closes if c is not None]
    print(f"  closed by the relay within {args.hold:.0f} s: {len(closed)} of {len(idle)}"
          + (f" (median {sorted(closed)[len(closed) // 2]:.1f} s)" if closed else ""))
    for _, writer in idle:
        writer.close()

    print("2. 200 half-sent request heads")
    halves = []
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
            await writer.drain()
            halves.append((reader, writer))
        except Exception:  # noqa: BLE001
            pass
    ok &= await honest(host, port, args.site, args.origin, "while 200 half heads are held")
    closes = await asyncio.gather(*(closed_within(r, args.hold) for r, _ in halves))
    closed = [c for c in closes if c is not None]
    print(f"  closed by the relay within {args.hold:.0f} s: {len(closed)} of {len(halves)}")
    for _, writer in halves:
        writer.close()

    print("3. a WebSocket that never says hello")
    reader, writer, status = await ws_open(host, port, args.origin)
    code, _, seconds = await ws_until_close(reader, 20)
    print(f"  upgrade {status}; after {seconds:.1f} s: close code {code}")
    writer.close()

    print("4a. 10,000 JSON pings before hello")
    reader, writer, status = await ws_open(host, port, args.origin)
    await send_all(writer, b"".join(
        ws_frame(0x1, json.dumps({"type": "ping", "nonce": i}).encode()) for i in range(10_000)))
    code, frames, seconds = await ws_until_close(reader, 10)
    print(f"  frames answered {frames}; close code {code} after {seconds:.1f} s")
    writer.close()

    print("4b. 10,000 WebSocket control pings")
    reader, writer, status = await ws_open(host, port, args.origin)
    await send_all(writer, b"".join(ws_frame(0x9, b"x") for _ in range(10_000)))
    code, frames, seconds = await ws_until_close(reader, 10)
    print(f"  pongs {frames}; close code {code} after {seconds:.1f} s")
    writer.close()

    ok &= await honest(host, port, args.site, args.origin, "after the attacks")
    print("honest client served throughout" if ok else "honest client NOT always served")


if __name__ == "__main__":
    asyncio.run(main())
