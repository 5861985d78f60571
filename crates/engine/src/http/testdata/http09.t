# HTTP/0.9 is not supported (obsolete since 1996): a request line without version is
# a malformed request whose head runs to a blank line, as tshark and servers read it. A
# raw answer without status line is then a malformed response.
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
ex GET host=old path=/new status=200 req=32 resp=38 flags= ver=1.1 ua= interim=0 ts=1 latency=1000000
ex GET host= path=/old.html status=none req=15 resp=0 flags=no_response,truncated ver=0.9 ua= interim=0 ts=3 latency=none
counters requests=2 responses=1 malformed_responses=1
