# Absolute-form targets (proxy requests): without Host, host is the authority as
# written and path the path part ("/" when empty, userinfo dropped); with a Host header,
# the Host header wins (as tshark). A request without Host nor absolute URI has no host.
>>> t=1
GET http://detectportal.firefox.com:8080/success.txt?ipv4 HTTP/1.1\r\n
User-Agent: Mozilla/5.0\r\n
\r\n
GET http://user:pw@example.org HTTP/1.1\r\n\r\n
GET http://origin.example/x HTTP/1.1\r\nHost: header.example\r\n\r\n
GET /plain HTTP/1.0\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.0 200 OK\r\n\r\n
fin <
== expect
ex GET host=detectportal.firefox.com:8080 path=/success.txt?ipv4 ua=Mozilla/5.0 status=200 req=95 resp=38
ex GET host=example.org path=/ status=200 req=43 resp=38
ex GET host=header.example path=/x status=200 req=62 resp=38
ex GET path=/plain status=200 req=23 resp=19
counters requests=4 responses=4
