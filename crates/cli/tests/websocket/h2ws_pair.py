"""WebSocket over HTTP/2 (RFC 8441) between a server and a client written with Debian's
python3-h2 (hyper-h2: HTTP/2 framing, HPACK with Huffman and the dynamic table) and
python3-wsproto (RFC 6455 framing, client frames masked), over 127.0.0.1:PORT, for
crates/cli/tests/http2_websocket.rs.

The server sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; the client waits for it, opens an
extended CONNECT (`:protocol websocket`) on stream 1, and once answered 200 sends the
messages of the plan (one frame each, cut into DATA frames of at most the peer's frame
size); the server answers with its own once it has them all; the client closes with code
1000 and a reason, the server echoes the Close; both end the stream. Prints one JSON line
with what each side sent.

Usage: h2ws_pair.py PORT PATH
"""

import json
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode

PORT, PATH = int(sys.argv[1]), sys.argv[2]
# (kind, size): the sizes cross the 7-bit (125) and 16-bit (126..65535) length encodings
# and the 16 KiB DATA frame size; each direction stays under the 64 KiB flow-control
# window.
TO_SERVER = [("text", 5), ("text", 125), ("text", 126), ("binary", 1), ("binary", 20000)]
TO_CLIENT = [("text", 3), ("binary", 300), ("text", 17000)]
REASON = "bye over h2"


def message(kind, size, seed):
    if kind == "text":
        return ("abcdefghij" * (size // 10 + 1))[:size]
    return bytes((seed + i) % 256 for i in range(size))


def queue_data(conn, sid, data, end=False):
    size = conn.max_outbound_frame_size
    for i in range(0, len(data), size):
        conn.send_data(sid, data[i : i + size])
    if end:
        conn.end_stream(sid)


def send_data(sock, conn, sid, data, end=False):
    queue_data(conn, sid, data, end)
    sock.sendall(conn.data_to_send())


class Side:
    """One side's WebSocket frame parser over the stream's DATA."""

    def __init__(self, client):
        self.proto = FrameProtocol(client=client, extensions=[])
        self.messages = 0
        self.closed = None

    def feed(self, data):
        self.proto.receive_bytes(data)
        for f in self.proto.received_frames():
            if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                if f.message_finished:
                    self.messages += 1
            elif f.opcode == Opcode.CLOSE:
                self.closed = f.payload


def server(lsock, done):
    sock, _ = lsock.accept()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
    )
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    ws = Side(client=False)
    sid = None
    answered = False
    echoed = False
    while True:
        data = sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                sid = ev.stream_id
                conn.send_headers(sid, [(":status", "200")])
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                ws.feed(ev.data)
                if ws.closed is not None and not echoed:
                    echoed = True
                    queue_data(conn, sid, ws.proto.close(code=CloseReason.NORMAL_CLOSURE))
            elif isinstance(ev, h2.events.StreamEnded):
                conn.end_stream(ev.stream_id)
        sock.sendall(conn.data_to_send())
        if sid is not None and not answered and ws.messages == len(TO_SERVER):
            answered = True
            out = b"".join(
                ws.proto.send_data(message(k, n, i), fin=True) for i, (k, n) in enumerate(TO_CLIENT)
            )
            send_data(sock, conn, sid, out)
    sock.close()
    done.set()


def main():
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", PORT))
    lsock.listen(1)
    done = threading.Event()
    t = threading.Thread(target=server, args=(lsock, done), daemon=True)
    t.start()

    sock = socket.create_connection(("127.0.0.1", PORT))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    ws = Side(client=True)
    state = "settings"
    sid = 1
    while state != "done":
        data = sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged) and state == "settings":
                state = "connect"
            elif isinstance(ev, h2.events.ResponseReceived):
                assert dict(ev.headers)[b":status"] == b"200", ev.headers
                state = "open"
                out = b"".join(
                    ws.proto.send_data(message(k, n, i), fin=True)
                    for i, (k, n) in enumerate(TO_SERVER)
                )
                send_data(sock, conn, sid, out)
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                ws.feed(ev.data)
                if ws.messages == len(TO_CLIENT) and state == "open":
                    state = "closing"
                    send_data(sock, conn, sid, ws.proto.close(code=1000, reason=REASON), end=True)
            elif isinstance(ev, h2.events.StreamEnded):
                state = "done"
        if state == "connect":
            conn.send_headers(
                sid,
                [
                    (":method", "CONNECT"),
                    (":protocol", "websocket"),
                    (":scheme", "http"),
                    (":path", PATH),
                    (":authority", f"127.0.0.1:{PORT}"),
                    ("sec-websocket-version", "13"),
                ],
            )
            state = "connecting"
        sock.sendall(conn.data_to_send())
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    done.wait(10)
    print(json.dumps({"to_server": TO_SERVER, "to_client": TO_CLIENT, "reason": REASON}))


main()
