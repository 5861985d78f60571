# 101 Switching Protocols is final; afterwards both directions are opaque (WebSocket
# frames here), neither parsed nor counted as anomalies.
>>> t=1
GET /chat HTTP/1.1\r\n
Host: ws.example\r\n
Upgrade: websocket\r\n
Connection: Upgrade\r\n
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n
Sec-WebSocket-Version: 13\r\n
\r\n
<<< t=2
HTTP/1.1 101 Switching Protocols\r\n
Upgrade: websocket\r\n
Connection: Upgrade\r\n
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n
\r\n
\x81\x05Hello
>>> t=3
\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n
<<< t=4
HTTP/1.1 200 OK\r\n\r\n\x88\x00
== expect
ex GET host=ws.example path=/chat status=101 req=153 resp=129
counters requests=1 responses=1
