# Picked up mid-connection: the server side starts inside a body whose head was never
# seen (no SYN, its head lost), and the next response follows that body's last byte with
# no line end before it. The status line is found mid-line (only status lines are looked
# for there), so the next response still pairs with its request.
>>> t=1
GET /a.jpg HTTP/1.1\r\nHost: img\r\n\r\n
<<< t=2
\xff\xd8\xff\xe0binary-tail-of-a-jpeg\x00\x01
>>> t=3
GET /b.jpg HTTP/1.1\r\nHost: img\r\n\r\n
<<< t=4
\x02\x03HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd
== expect
ex GET host=img path=/a.jpg status=none req=34 flags=no_response,gap
ex GET host=img path=/b.jpg status=200 req=34 resp=42
counters requests=2 responses=1
