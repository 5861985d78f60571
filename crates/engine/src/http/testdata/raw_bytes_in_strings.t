# Non-UTF-8 and control bytes in path, Host and User-Agent are kept as raw bytes and cut
# at max_string_len (strings_truncated, TRUNCATED). A control byte in a header value is
# malformed for httparse: the head is then salvaged line by line (MALFORMED) and the
# raw value kept. (Control bytes in the target are accepted only on a synchronised
# connection, hence the first exchange.)
limits max_string_len=8
>>> t=1
GET / HTTP/1.1\r\n\r\n
<<< t=2
HTTP/1.1 204 No Content\r\n\r\n
>>> t=3
GET /p\x01th\xffxyz123 HTTP/1.1\r\n
Host: h\xc3\x28\xff\r\n
User-Agent: \xff\xfe0123456789\r\n
\r\n
<<< t=4
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=5
GET /\t HTTP/1.1\r\n
Host: esc\x1b[31m\r\n
\r\n
<<< t=6
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
== expect
ex GET path=/ status=204 req=18 resp=27
ex GET host=h\xc3\x28\xff path=/p\x01th\xffxy ua=\xff\xfe012345 status=200 req=67 resp=38 flags=truncated trunc=path,ua
ex GET host=esc\x1b[31m path=/\t status=400 req=35 resp=47 flags=malformed
counters requests=3 responses=3 strings_truncated=2 malformed_requests=1
