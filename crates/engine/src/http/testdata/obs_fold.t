# Obsolete line folding (RFC 9112 5.2) in a request and a response: tolerated (the fold
# becomes spaces), counted in obs_folds; the folded User-Agent keeps its parts.
>>> t=1
GET /f HTTP/1.1\r\n
Host: fold.test\r\n
User-Agent: Mozilla/4.0\r\n
\s(compatible; MSIE 6.0)\r\n
Accept: */*\r\n
\r\n
<<< t=2
HTTP/1.1 200 OK\r\n
X-Long: a\r\n
\tb\r\n
Content-Length: 3\r\n
\r\n
xyz
== expect
ex GET host=fold.test path=/f ua=Mozilla/4.0\s\s\s(compatible;\sMSIE\s6.0) status=200 req=99 resp=56
counters requests=1 responses=1 obs_folds=2
