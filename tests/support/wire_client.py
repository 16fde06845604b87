#!/usr/bin/python3
"""A client of the 19333 channel that is not montana's own: Python's ssl module and raw sockets.

The integration tests attack nodes with it. Each run prints one JSON object per line on stdout,
so a test can read what happened.

  wire_client.py tls HOST PORT CERT KEY PEER_CERT STEP...
      TLS 1.3 with CERT/KEY as the client certificate, PEER_CERT pinned as the only trust
      anchor, then the steps in order:
        hello:NODE[:MAJOR]   a hello frame naming NODE, protocol version MAJOR.0 (default 1)
        frame:JSON           a frame whose body is JSON
        raw:HEX              these bytes as they are
        header:N             a frame header announcing N bytes, and no body
        read:SECONDS         every frame the node sends for SECONDS, or until it closes
        sleep:SECONDS
      prints {"tls": VERSION} or {"tls_error": TEXT}, {"frame": BODY} per frame read, and
      {"closed": SECONDS_AFTER_THE_LAST_STEP} when the node closed the connection.
  wire_client.py flood HOST PORT COUNT SECONDS [MODE]
      opens COUNT plain TCP connections at once and holds them open for SECONDS; MODE
      "hello" sends half a TLS ClientHello on each first. Prints {"opened": N, "refused": M}
      after opening, and {"closed_by_node": K} at the end: how many the node had closed.
"""
import json
import resource
import socket
import ssl
import struct
import sys
import time


def out(**fields):
    print(json.dumps(fields), flush=True)


def frame(body):
    data = body.encode()
    return struct.pack(">I", len(data)) + data


def read_frames(conn, seconds):
    """Prints frames until `seconds` pass or the node closes; True when it closed."""
    conn.settimeout(0.1)
    deadline = time.monotonic() + seconds
    buffer = b""
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ssl.SSLError, OSError):
            return True
        if not chunk:
            return True
        buffer += chunk
        while len(buffer) >= 4:
            (length,) = struct.unpack(">I", buffer[:4])
            if len(buffer) < 4 + length:
                break
            body = buffer[4 : 4 + length]
            buffer = buffer[4 + length :]
            try:
                out(frame=json.loads(body))
            except ValueError:
                out(frame=body.decode("latin-1"))
    return False


def run_tls(host, port, cert, key, peer_cert, steps):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.load_verify_locations(peer_cert)
    context.load_cert_chain(cert, key)
    raw = socket.create_connection((host, port), timeout=10)
    try:
        conn = context.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        out(tls_error=str(e))
        return
    out(tls=conn.version())
    last = time.monotonic()
    try:
        for step in steps:
            kind, _, arg = step.partition(":")
            if kind == "hello":
                node, _, major = arg.partition(":")
                body = {"t": "hello", "protocol": "montana", "major": int(major or 1),
                        "minor": 0, "node": node, "incarnation": 4242}
                conn.sendall(frame(json.dumps(body)))
            elif kind == "frame":
                conn.sendall(frame(arg))
            elif kind == "raw":
                conn.sendall(bytes.fromhex(arg))
            elif kind == "header":
                conn.sendall(struct.pack(">I", int(arg)))
            elif kind == "read":
                if read_frames(conn, float(arg)):
                    out(closed=round(time.monotonic() - last, 3))
                    return
            elif kind == "sleep":
                time.sleep(float(arg))
            else:
                raise SystemExit("unknown step " + step)
            last = time.monotonic()
    except (ssl.SSLError, OSError) as e:
        out(closed=round(time.monotonic() - last, 3), error=str(e))
        return
    conn.close()


def client_hello_half():
    """The first half of a genuine TLS 1.3 ClientHello, from a memory BIO client."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def run_flood(host, port, count, seconds, mode):
    # The flood's own descriptors must not be what limits it.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    payload = client_hello_half() if mode == "hello" else b""
    conns, refused = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((host, port), timeout=5)
            if payload:
                s.sendall(payload)
            conns.append(s)
        except OSError:
            refused += 1
    out(opened=len(conns), refused=refused)
    time.sleep(seconds)
    closed = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    out(closed_by_node=closed)


def main(argv):
    if len(argv) >= 7 and argv[1] == "tls":
        run_tls(argv[2], int(argv[3]), argv[4], argv[5], argv[6], argv[7:])
    elif len(argv) >= 6 and argv[1] == "flood":
        run_flood(argv[2], int(argv[3]), int(argv[4]), float(argv[5]),
                  argv[6] if len(argv) > 6 else "")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
