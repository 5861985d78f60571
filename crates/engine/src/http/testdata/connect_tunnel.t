# CONNECT through a proxy: path is the authority-form target, host the Host header.
# The client starts its TLS handshake before the 200 arrives; everything after the
# 200 is tunnel data.
>>> t=1
CONNECT example.com:443 HTTP/1.1\r\n
Host: example.com:443\r\n
Proxy-Connection: keep-alive\r\n
\r\n
>>> t=2
\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03
<<< t=3
HTTP/1.1 200 Connection established\r\n
\r\n
<<< t=4
\x16\x03\x03\x00\x7a\x02\x00\x00\x76
>>> t=5
GET / HTTP/1.1\r\n\r\n
== expect
ex CONNECT host=example.com:443 path=example.com:443 status=200 req=89 resp=39
counters requests=1 responses=1
