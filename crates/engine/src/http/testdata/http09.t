# HTTP/0.9: a request line without version is a request only on a synchronised
# connection; the raw answer (no status line) runs until close. At the start of a
# stream the same line is not recognised.
>>> t=1
GET /new HTTP/1.1\r\nHost: old\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=3
GET /old.html\r\n
<<< t=4
<html>old</html>\n
fin <
== expect
ex GET host=old path=/new status=200 req=32 resp=38 ver=1.1
ex GET path=/old.html req=15 resp=17 ver=0.9 latency=1000000
counters requests=2 responses=2
