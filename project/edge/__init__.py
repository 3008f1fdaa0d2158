"""The transport edge of a web node: everything between a socket and the schema.

ASGI middleware (`bodylimit`, `httptimeouts`, `connectioncaps`, `origins`,
`allocator`), the consumers (`consumers`: GraphQL over HTTP and websockets, with
`graphqlhttp`'s statuses), the websocket protocol handlers and their limits
(`wshandlers`, `wsframes`, `wslimits`), delivery of each event to its own operation
(`grouprouting`), GraphQL over SSE (`sse`, its per-key cap `ssestreams`), how
subscriptions join task groups (`grouplistening`), the send path of a slow client
(`framesender`, `outbox`, `backpressure`), the fan-out path (`fanout`), riding out a Redis outage
(`outagelayer`), refusals (`refusals`) and a clean shutdown (`shutdown`).
"""
