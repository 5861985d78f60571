# Three requests one after the other on one connection, each answered before the next.
>>> t=100
GET /a HTTP/1.1\r\n
Host: h\r\n
\r\n
<<< t=110
HTTP/1.1 200 OK\r\n
Content-Length: 3\r\n
\r\n
abc
>>> t=200
GET /b/c?x=1 HTTP/1.1\r\n
Host: h\r\n
\r\n
<<< t=230
HTTP/1.1 404 Not Found\r\n
Content-Length: 0\r\n
\r\n
>>> t=300
POST /form HTTP/1.1\r\n
Host: h\r\n
Content-Length: 7\r\n
\r\n
a=1&b=2
<<< t=301
HTTP/1.1 302 Found\r\n
Location: /\r\n
Content-Length: 0\r\n
\r\n
== expect
ex GET host=h path=/a status=200 req=28 resp=41 ts=100 latency=10000000
ex GET host=h path=/b/c?x=1 status=404 req=34 resp=45 ts=200 latency=30000000
ex POST host=h path=/form status=302 req=58 resp=54 ts=300 latency=1000000
counters requests=3 responses=3
