"""A WebSocket server and client (Debian's python3-websockets) over 127.0.0.1:PORT, for
crates/cli/tests/websocket_live.rs.

The client sends the text and binary messages of the plan, the server answers once it has
them all with its own, then the client closes with code 1000 and a reason. Compression
(permessage-deflate) and keep-alive pings are off, so every message is one frame whose
payload is exactly the message. Prints one JSON line with what each side sent.

Usage: ws_pair.py PORT PATH
"""

import asyncio
import json
import sys

import websockets

PORT, PATH = int(sys.argv[1]), sys.argv[2]
# (kind, size): sizes cross the 7-bit (125), 16-bit (126..65535) and 64-bit boundaries.
TO_SERVER = [("text", 5), ("text", 125), ("text", 126), ("binary", 1), ("binary", 70000)]
TO_CLIENT = [("text", 3), ("binary", 300), ("binary", 65535), ("text", 2000)]
REASON = "bye from the test"


def message(kind, size, seed):
    if kind == "text":
        return ("abcdefghij" * (size // 10 + 1))[:size]
    return bytes((seed + i) % 256 for i in range(size))


async def handler(ws, path=None):
    for _ in TO_SERVER:
        await ws.recv()
    for i, (kind, size) in enumerate(TO_CLIENT):
        await ws.send(message(kind, size, i))
    await ws.wait_closed()


async def main():
    opts = dict(compression=None, ping_interval=None, max_size=None)
    async with websockets.serve(handler, "127.0.0.1", PORT, **opts):
        uri = f"ws://127.0.0.1:{PORT}{PATH}"
        async with websockets.connect(uri, **opts) as ws:
            for i, (kind, size) in enumerate(TO_SERVER):
                await ws.send(message(kind, size, i))
            for _ in TO_CLIENT:
                await ws.recv()
            await ws.close(code=1000, reason=REASON)
    print(json.dumps({"to_server": TO_SERVER, "to_client": TO_CLIENT, "reason": REASON}))


asyncio.run(main())
