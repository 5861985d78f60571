# Expect: 100-continue: the 100 is an interim response of the same exchange; the 200
# is its final response. Latency is measured to the final response.
>>> t=1000
POST /upload HTTP/1.1\r\n
Host: files\r\n
Content-Length: 10\r\n
Expect: 100-continue\r\n
\r\n
<<< t=1001
HTTP/1.1 100 Continue\r\n\r\n
>>> t=1002
0123456789
<<< t=1010
HTTP/1.1 200 OK\r\n
Content-Length: 2\r\n
\r\n
ok
== expect
ex POST host=files path=/upload status=200 interim=1 req=90 resp=65 latency=10000000
counters requests=1 responses=2
