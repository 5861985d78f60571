# More header fields than max_headers: too_many_headers, TRUNCATED; Host/User-Agent come
# from the first max_headers fields only, but framing (Content-Length here, past the
# limit) is still honoured so the next request parses.
limits max_headers=3
>>> t=1
POST /many HTTP/1.1\r\n
A: 1\r\n
B: 2\r\n
User-Agent: kept\r\n
Host: dropped\r\n
Content-Length: 4\r\n
\r\n
body
GET /ok HTTP/1.1\r\nHost: fine\r\nX: 1\r\nY: 2\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex POST path=/many ua=kept status=200 req=91 resp=62 flags=truncated
ex GET host=fine path=/ok status=200 req=44 resp=38
counters requests=2 responses=2 too_many_headers=2
