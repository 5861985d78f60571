# An HTTP/1.0 response without Content-Length is framed by the connection close: it is
# complete at the server's FIN, in several segments.
>>> t=1
GET /legacy HTTP/1.0\r\n
\r\n
<<< t=2
HTTP/1.0 200 OK\r\n
Content-Type: text/plain\r\n
\r\n
first part,
<<< t=3
second part
fin <
fin >
== expect
ex GET path=/legacy status=200 req=24 resp=67 ver=1.0
counters requests=1 responses=1
