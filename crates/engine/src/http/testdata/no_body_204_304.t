# 204 and 304 have no body, whatever their headers say; 1xx neither.
>>> t=1
DELETE /item/7 HTTP/1.1\r\nHost: api\r\n\r\n
<<< t=2
HTTP/1.1 204 No Content\r\n\r\n
>>> t=3
GET /logo.png HTTP/1.1\r\nHost: api\r\nIf-None-Match: "x"\r\n\r\n
<<< t=4
HTTP/1.1 304 Not Modified\r\nContent-Length: 5120\r\nETag: "x"\r\n\r\n
>>> t=5
GET /next HTTP/1.1\r\nHost: api\r\n\r\n
<<< t=6
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!
== expect
ex DELETE host=api path=/item/7 status=204 req=38 resp=27
ex GET host=api path=/logo.png status=304 req=57 resp=62
ex GET host=api path=/next status=200 req=33 resp=39
counters requests=3 responses=3
