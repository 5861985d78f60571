# One GET, one 200 with a Content-Length body.
>>> t=10
GET /index.html HTTP/1.1\r\n
Host: www.example.com\r\n
User-Agent: curl/8.5.0\r\n
Accept: */*\r\n
\r\n
<<< t=25
HTTP/1.1 200 OK\r\n
Content-Type: text/html\r\n
Content-Length: 5\r\n
\r\n
hello
fin >
fin <
== expect
ex GET host=www.example.com path=/index.html ua=curl/8.5.0 status=200 req=88 resp=68 ver=1.1 ts=10 latency=15000000
counters requests=1 responses=1
