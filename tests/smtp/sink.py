"""A real SMTP server for the transcript-by-email tests (aiosmtpd).

    python3 tests/smtp/sink.py --port PORT --out DIR [--reject "550 ..."]

Prints `smtp-sink listening on 127.0.0.1:PORT` once it accepts
connections. Every DATA it is offered is one line of DIR/attempts.log
(written before it answers); each accepted message is written whole to
DIR/<n>.eml (through a temporary name, so a reader never sees half of
one). With --reject it answers every DATA with that reply instead (a
permanent refusal: "550 ...") and keeps nothing.
"""

import argparse
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, reject):
        self.out = out
        self.reject = reject
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
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--reject", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    controller = Controller(
        Sink(args.out, args.reject), hostname="127.0.0.1", port=args.port
    )
    controller.start()
    print("smtp-sink listening on 127.0.0.1:%d" % args.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
