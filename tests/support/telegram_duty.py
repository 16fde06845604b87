#!/usr/bin/python3
"""The chaos suites' duty: a minimal bot that long-polls the Bot API and echoes each message.

It behaves like an ordinary polling bot with no failover logic of its own: getUpdates with a
long-poll timeout, the next offset after each answer, "echo: TEXT" back to every message, and
a pause of one second after an error (a 409 included) before polling again, as
python-telegram-bot's first retry does. Every request carries X-Montana-Node, X-Montana-Pid and
X-Montana-Term, so the stand-in's log names the poller. SIGTERM ends it at once.

Environment: MONTANA_TELEGRAM_API (base URL, e.g. http://198.18.1.1:8081), MONTANA_TELEGRAM_TOKEN,
optional MONTANA_TELEGRAM_CA (PEM file that signs an HTTPS stand-in's certificate) and
MONTANA_TELEGRAM_POLL_TIMEOUT (seconds, default 10); MONTANA_NODE_NAME and MONTANA_TERM come
from montana-actors' supervisor.
"""

import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        api = os.environ["MONTANA_TELEGRAM_API"].rstrip("/")
        token = os.environ["MONTANA_TELEGRAM_TOKEN"]
        poll_timeout = int(os.environ.get("MONTANA_TELEGRAM_POLL_TIMEOUT", "10"))
    except (KeyError, ValueError) as e:
        print(f"telegram-duty: bad environment: {e}", file=sys.stderr)
        return 2
    context = None
    if os.environ.get("MONTANA_TELEGRAM_CA"):
        context = ssl.create_default_context(cafile=os.environ["MONTANA_TELEGRAM_CA"])
    headers = {"Content-Type": "application/json",
               "X-Montana-Node": os.environ.get("MONTANA_NODE_NAME", "?"),
               "X-Montana-Pid": str(os.getpid()),
               "X-Montana-Term": os.environ.get("MONTANA_TERM", "?")}

    def call(method, params, timeout):
        request = urllib.request.Request(f"{api}/bot{token}/{method}",
                                         data=json.dumps(params).encode("utf-8"), headers=headers)
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
            return json.loads(answer.read().decode("utf-8"))["result"]

    print(f"telegram-duty {os.getpid()}: polling {api}", flush=True)
    offset = 0
    while True:
        try:
            updates = call("getUpdates", {"offset": offset, "timeout": poll_timeout},
                           poll_timeout + 5)
            for update in updates:
                offset = update["update_id"] + 1
                message = update.get("message") or {}
                if "text" in message:
                    call("sendMessage", {"chat_id": message["chat"]["id"],
                                         "text": "echo: " + message["text"]}, 10)
        except urllib.error.HTTPError as e:
            print(f"telegram-duty: {e.code} {e.read().decode('utf-8', 'replace')}", flush=True)
            time.sleep(1)
        except (OSError, ValueError, KeyError) as e:
            print(f"telegram-duty: {e}", flush=True)
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
