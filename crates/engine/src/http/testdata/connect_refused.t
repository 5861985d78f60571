# A CONNECT answered 407 is not a tunnel: the client retries on the same connection;
# the second CONNECT has no Host header (host comes from the target).
>>> t=1
CONNECT secure.test:8443 HTTP/1.1\r\nHost: secure.test:8443\r\n\r\n
<<< t=2
HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n
>>> t=3
CONNECT secure.test:8443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n
<<< t=4
HTTP/1.1 200 OK\r\n\r\n
>>> t=5
\x16\x03\x01
== expect
ex CONNECT host=secure.test:8443 path=secure.test:8443 status=407 req=61 resp=92
ex CONNECT host=secure.test:8443 path=secure.test:8443 status=200 req=70 resp=19
counters requests=2 responses=2
