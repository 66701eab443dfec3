"""A real SMTP server for the transcript-by-email tests (aiosmtpd).

    python3 tests/smtp/sink.py --port PORT --out DIR [--reject "550 ..."]
                               [--hold-first-ms MS]

Prints `smtp-sink listening on 127.0.0.1:PORT` once it accepts
connections. Every DATA it is offered is one line of DIR/attempts.log
(written before it answers); each accepted message is written whole to
DIR/<n>.eml (through a temporary name, so a reader never sees half of
one). With --reject it answers every DATA with that reply instead (a
permanent refusal: "550 ...") and keeps nothing. With --hold-first-ms
it writes the first accepted message and only then waits that long before
answering 250: the message is taken, the sender does not know it yet (the
window in which a sender killed sends nothing to say so; a test kills it
once the file is there).
"""

import argparse
import asyncio
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, reject, hold_first_ms=0):
        self.out = out
        self.reject = reject
        self.hold_first_ms = hold_first_ms
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            with open(os.path.join(self.out, "attempts.log"), "a") as log:
                log.write(",".join(envelope.rcpt_tos) + "\n")
            if self.reject:
                return self.reject
            self.count += 1
            path = os.path.join(self.out, "%d.eml" % self.count)
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(path + ".tmp", path)
            hold = self.hold_first_ms if self.count == 1 else 0
        if hold:
            await asyncio.sleep(hold / 1000)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--reject", default="")
    parser.add_argument("--hold-first-ms", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    controller = Controller(
        Sink(args.out, args.reject, args.hold_first_ms),
        hostname="127.0.0.1",
        port=args.port,
    )
    controller.start()
    print("smtp-sink listening on 127.0.0.1:%d" % args.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
