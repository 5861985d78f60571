# One side starts with binary data, the other with HTTP: not dead. A side whose first
# line is garbage still finds its request line later.
>>> t=1
\x00\x01binary\r\n
GET /late HTTP/1.1\r\n
\r\n
<<< t=2
\x16\x03\x03\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex GET path=/late status=200 req=22 resp=38
counters requests=1 responses=1
