# HEAD: the response has a Content-Length but no body; the next response must parse.
>>> t=1
HEAD /big.iso HTTP/1.1\r\n
Host: mirror\r\n
\r\n
<<< t=2
HTTP/1.1 200 OK\r\n
Content-Length: 734003200\r\n
\r\n
>>> t=3
GET /small HTTP/1.1\r\n
Host: mirror\r\n
\r\n
<<< t=4
HTTP/1.1 200 OK\r\n
Content-Length: 2\r\n
\r\n
hi
== expect
ex HEAD host=mirror path=/big.iso status=200 req=40 resp=46
ex GET host=mirror path=/small status=200 req=37 resp=40
counters requests=2 responses=2
