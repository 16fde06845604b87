#!/usr/bin/python3
"""A stand-in for the Telegram Bot API, for tests (python3 standard library only).

Serves one bot (one token) at /bot<token>/<method> over HTTP and, with --tls-listen, HTTPS:
getMe, getUpdates, sendMessage, deleteWebhook and getWebhookInfo, with the answers' shapes
and the long-poll semantics of Telegram's own Bot API server (tdlib/telegram-bot-api,
Client.cpp: process_get_updates_query, do_get_updates, abort_long_poll,
fail_query_conflict):

- getUpdates takes offset, limit (1..100, default 100) and timeout (0..50 s, default 0), from
  the query string, a urlencoded form or a JSON body. An offset confirms every update below
  it; a negative offset keeps only the last -offset updates.
- An answer with updates, or with timeout 0, comes at once and leaves an open long poll alone.
- A long poll (timeout > 0, nothing to deliver) replaces the open one: the OLDER request is
  answered 409 "Conflict: terminated by other getUpdates request; make sure that only one bot
  instance is running", the newer one waits. At most one such 409 is sent immediately per
  3 s; a conflict within 3 s of the last immediate one is held 3 s before its 409 goes out.
  A 409 sent at once ends the older poll, in the log, when the newer one arrived: Telegram
  served one of them at every instant (the older's client may be gone, cut off from the
  network, and never read its 409). A held 409 ends it when it goes out.
- A new update wakes the open long poll (answered 1 ms later).
- Telegram's throttles: the same offset again within 3 s with timeout < 3 waits 3 s; within
  0.5 s it gets limit 1.
- Our own choice, not Telegram's: a long poll whose client closed its connection ends there
  and then (outcome "gone"), so a killed poller stops counting at once.

Every request is logged to --log as JSON lines: {"event": "start", "id": N, ...} when it
arrives (so an open long poll is visible while it waits) and {"event": "end", "id": N, ...}
when it ends. Both carry the method, the client's address, the X-Montana-Node /
X-Montana-Pid / X-Montana-Term headers if sent and the wall-clock start (microseconds); the end
adds the end, the status (null: the client left first) and for getUpdates its parameters, the
update ids delivered and the outcome (updates, empty, conflict, gone), for sendMessage its
chat_id and text.

Tests talk to a control listener (--control, keep it on loopback):
  POST /inject {"text": ..., "chat_id": N}   -> {"update_id": N}: a user's message
  GET  /health                                -> {"ok": true}

Prints "ready" on stdout once every listener accepts; ends on SIGTERM or SIGINT.
"""

import argparse
import http.server
import json
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

CONFLICT = ("Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running")
MAX_BODY = 1 << 20
BOT_ID = 7000000001


def wall_us():
    return time.time_ns() // 1000


class Poll:
    """One open long poll."""

    def __init__(self, offset, limit, deadline):
        self.offset = offset
        self.limit = limit
        self.deadline = deadline
        # When it is to be answered with updates (a new one arrived), or with a 409.
        self.wake_at = None
        self.conflict_at = None
        # Wall clock (us) of the newer request that replaced it at once with a 409.
        self.replaced_us = None


class Bot:
    """The bot's update queue and its one open long poll; every field under `cond`."""

    def __init__(self, token, log_path):
        self.token = token
        self.cond = threading.Condition()
        self.updates = []  # (update_id, update), ascending
        self.next_update_id = 100001
        self.next_message_id = 1
        self.open_poll = None
        self.next_conflict_time = 0.0
        self.previous_offset = None
        self.previous_start = -100.0
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8")
        self.next_request_id = 1

    def log(self, entry):
        with self.log_lock:
            self.log_file.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.log_file.flush()

    def request_id(self):
        with self.log_lock:
            self.next_request_id += 1
            return self.next_request_id - 1

    def me(self):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Montana stand-in",
                "username": "montana_standin_bot", "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    # --- under self.cond -------------------------------------------------------------

    def take(self, offset, limit):
        """Confirms the updates below `offset` and returns up to `limit` after it."""
        if offset < 0:
            del self.updates[:max(0, len(self.updates) + offset)]
        elif offset > 0:
            self.updates = [u for u in self.updates if u[0] >= offset]
        return [u[1] for u in self.updates[:limit]]

    def conflict(self, poll, now, by_us):
        if now >= self.next_conflict_time:
            poll.conflict_at = now
            poll.replaced_us = by_us
            self.next_conflict_time = now + 3.0
        else:
            poll.conflict_at = now + 3.0

    # ---------------------------------------------------------------------------------

    def inject(self, text, chat_id):
        with self.cond:
            update_id = self.next_update_id
            self.next_update_id += 1
            user = {"id": chat_id, "is_bot": False, "first_name": "Tester"}
            message = {"message_id": self.next_message_id, "from": user,
                       "chat": {"id": chat_id, "type": "private", "first_name": "Tester"},
                       "date": int(time.time()), "text": text}
            self.next_message_id += 1
            self.updates.append((update_id, {"update_id": update_id, "message": message}))
            if self.open_poll is not None and self.open_poll.wake_at is None:
                self.open_poll.wake_at = time.monotonic() + 0.001
            self.cond.notify_all()
        return update_id

    def get_updates(self, params, client_gone, entry):
        """Returns (status, body) for one getUpdates; None when the client went away."""
        offset = int_param(params, "offset", 0, -(1 << 31), (1 << 31) - 1)
        limit = int_param(params, "limit", 100, 1, 100)
        timeout = int_param(params, "timeout", 0, 0, 50)
        entry.update(offset=offset, limit=limit, timeout=timeout)
        with self.cond:
            now = time.monotonic()
            if offset == self.previous_offset and timeout < 3 and now < self.previous_start + 3.0:
                timeout = 3
            if offset == self.previous_offset and now < self.previous_start + 0.5:
                limit = 1
            self.previous_offset = offset
            self.previous_start = now
            result = self.take(offset, limit)
            if result or timeout == 0:
                return self.delivered(result, entry)
            if self.open_poll is not None:
                self.conflict(self.open_poll, now, entry["start_us"])
                self.cond.notify_all()
            poll = Poll(offset, limit, now + timeout)
            self.open_poll = poll
            while True:
                now = time.monotonic()
                if poll.conflict_at is not None:
                    if now >= poll.conflict_at:
                        entry["outcome"] = "conflict"
                        if poll.replaced_us is not None:
                            entry["end_us"] = poll.replaced_us
                        return 409, {"ok": False, "error_code": 409, "description": CONFLICT}
                    wait = poll.conflict_at - now
                elif (poll.wake_at is not None and now >= poll.wake_at) or now >= poll.deadline:
                    self.open_poll = None
                    return self.delivered(self.take(poll.offset, poll.limit), entry)
                else:
                    wait = min(poll.deadline, poll.wake_at or poll.deadline) - now
                if client_gone():
                    if self.open_poll is poll:
                        self.open_poll = None
                    entry["outcome"] = "gone"
                    return None
                self.cond.wait(min(wait, 0.05))

    @staticmethod
    def delivered(result, entry):
        entry["outcome"] = "updates" if result else "empty"
        entry["update_ids"] = [u["update_id"] for u in result]
        return 200, {"ok": True, "result": result}

    def send_message(self, params, entry):
        chat_id = params.get("chat_id")
        text = params.get("text")
        entry.update(chat_id=chat_id, text=text)
        if chat_id in (None, ""):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}
        if text in (None, ""):
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message text is empty"}
        try:
            chat = int(chat_id)
        except (TypeError, ValueError):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        with self.cond:
            message_id = self.next_message_id
            self.next_message_id += 1
        bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Montana stand-in",
                    "username": "montana_standin_bot"}
        return 200, {"ok": True, "result": {
            "message_id": message_id, "from": bot_user,
            "chat": {"id": chat, "type": "private", "first_name": "Tester"},
            "date": int(time.time()), "text": str(text)}}

    def delete_webhook(self, params):
        if str(params.get("drop_pending_updates", "")).lower() in ("true", "1"):
            with self.cond:
                self.updates.clear()
        return 200, {"ok": True, "result": True, "description": "Webhook is already deleted"}

    def webhook_info(self):
        with self.cond:
            pending = len(self.updates)
        return 200, {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                            "pending_update_count": pending}}


def int_param(params, name, default, lowest, highest):
    try:
        value = int(params.get(name, default))
    except (TypeError, ValueError):
        value = default
    return max(lowest, min(highest, value))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "montana-telegram-standin"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def read_params(self):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        body = self.rfile.read(length) if length > 0 else b""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body and kind == "application/json":
            parsed = json.loads(body.decode("utf-8"))
            if not isinstance(parsed, dict):
                raise ValueError("JSON body is not an object")
            params.update(parsed)
        elif body and kind == "application/x-www-form-urlencoded":
            params.update(urllib.parse.parse_qsl(body.decode("utf-8")))
        return params

    def client_gone(self):
        """True once the client closed its connection (FIN, reset or a TLS alert)."""
        raw = self.connection
        try:
            readable, _, _ = select.select([raw], [], [], 0)
            if not readable:
                return False
            peek = socket.socket.recv(raw, 16, socket.MSG_PEEK)
            return peek == b"" or (isinstance(raw, ssl.SSLSocket) and peek[:1] == b"\x15")
        except OSError:
            return True

    def reply(self, status, body):
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def handle_any(self):
        bot = self.server.bot
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        known = len(parts) == 3 and parts[1].startswith("bot")
        entry = {"event": "start", "id": bot.request_id(), "start_us": wall_us(),
                 "method": parts[2] if known else "/".join(parts),
                 "peer": self.client_address[0], "node": self.headers.get("X-Montana-Node"),
                 "pid": self.headers.get("X-Montana-Pid"),
                 "term": self.headers.get("X-Montana-Term")}
        bot.log(entry)
        entry["event"] = "end"
        answer = self.dispatch(parts if known else None, entry)
        if answer is None:
            self.close_connection = True
        else:
            self.reply(*answer)
        entry["status"] = None if answer is None else answer[0]
        entry.setdefault("end_us", wall_us())
        bot.log(entry)

    def dispatch(self, parts, entry):
        """(status, body) of this request; None when the client left before its answer."""
        bot = self.server.bot
        if parts is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = parts[2].lower()
        try:
            params = self.read_params()
        except (ValueError, UnicodeDecodeError) as e:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {e}"}
        if parts[1][3:] != bot.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if method == "getme":
            return 200, {"ok": True, "result": bot.me()}
        if method == "getupdates":
            return bot.get_updates(params, self.client_gone, entry)
        if method == "sendmessage":
            return bot.send_message(params, entry)
        if method == "deletewebhook":
            return bot.delete_webhook(params)
        if method == "getwebhookinfo":
            return bot.webhook_info()
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.answer(200, {"ok": True})
        else:
            self.answer(404, {"ok": False})

    def do_POST(self):
        if self.path != "/inject":
            self.answer(404, {"ok": False})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(min(length, MAX_BODY)).decode("utf-8"))
            text = str(request["text"])
            chat_id = int(request.get("chat_id", 4242))
        except (ValueError, KeyError, TypeError) as e:
            self.answer(400, {"ok": False, "error": str(e)})
            return
        self.answer(200, {"ok": True, "update_id": self.server.bot.inject(text, chat_id)})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, bot, tls=None):
        super().__init__(address, handler)
        self.bot = bot
        self.tls = tls

    def finish_request(self, request, client_address):
        # The TLS handshake runs on the request's own thread, never on the accepting one.
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


def endpoint(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description="Telegram Bot API stand-in for tests")
    parser.add_argument("--token", required=True)
    parser.add_argument("--log", required=True, help="file the JSON lines are appended to")
    parser.add_argument("--listen", type=endpoint, help="HTTP HOST:PORT")
    parser.add_argument("--tls-listen", type=endpoint, help="HTTPS HOST:PORT")
    parser.add_argument("--cert", help="PEM certificate chain for HTTPS")
    parser.add_argument("--key", help="PEM private key for HTTPS")
    parser.add_argument("--control", type=endpoint, required=True, help="control HOST:PORT")
    args = parser.parse_args()
    if args.listen is None and args.tls_listen is None:
        parser.error("give --listen, --tls-listen or both")
    if args.tls_listen is not None and (args.cert is None or args.key is None):
        parser.error("--tls-listen needs --cert and --key")

    bot = Bot(args.token, args.log)
    servers = []
    try:
        if args.listen is not None:
            servers.append(Server(args.listen, Handler, bot))
        if args.tls_listen is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(args.cert, args.key)
            servers.append(Server(args.tls_listen, Handler, bot, tls))
        servers.append(Server(args.control, ControlHandler, bot))
    except (OSError, ssl.SSLError) as e:
        print(f"telegram-standin: cannot start: {e}", file=sys.stderr)
        return 1
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
