# An HTTP/0.9 exchange on a new connection: a versionless request line, answered by a
# body until close with no status line (nginx and Apache still answer HTTP/0.9 so). The
# exchange completes at the server's FIN with the body's bytes, status none, no GAP.
# (tshark decodes neither side: it waits for the end of the request head.)
>>> t=1
GET /old.html\r\n
<<< t=2
<html>old</html>\n
<<< t=3
<p>more</p>
fin <
fin >
== expect
ex GET host= path=/old.html status=none req=15 resp=28 flags= ver=0.9 ua= interim=0 ts=1 latency=1000000
counters requests=1 responses=1
