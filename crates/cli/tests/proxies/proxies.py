# SOCKS5 (RFC 1928, no authentication) and HTTP CONNECT proxies for crates/cli/tests/proxies.rs,
# standard library only: `python3 proxies.py socks5|connect PORT` prints "ready" once listening.
import socket, socketserver, sys, threading, select, struct

def relay(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 10)
            if not r:
                return
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                (b if s is a else a).sendall(d)
    finally:
        a.close(); b.close()

def recvn(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf

class Socks(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        ver, n = recvn(c, 2)
        recvn(c, n)
        c.sendall(b"\x05\x00")
        ver, cmd, _, atyp = recvn(c, 4)
        if atyp == 1:
            host = socket.inet_ntoa(recvn(c, 4))
        elif atyp == 3:
            host = recvn(c, recvn(c, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, recvn(c, 16))
        port = struct.unpack(">H", recvn(c, 2))[0]
        up = socket.create_connection((host, port))
        a = up.getsockname()
        c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(a[0]) + struct.pack(">H", a[1]))
        relay(c, up)

class Connect(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(4096)
            if not d:
                return
            head += d
        line = head.split(b"\r\n")[0].split()
        host, port = line[1].decode().rsplit(":", 1)
        up = socket.create_connection((host, int(port)))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        relay(c, up)

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

kind, port = sys.argv[1], int(sys.argv[2])
srv = Server(("127.0.0.1", port), Socks if kind == "socks5" else Connect)
print("ready", flush=True)
srv.serve_forever()
