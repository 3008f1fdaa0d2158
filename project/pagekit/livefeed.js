// One GraphQL subscription over graphql-transport-ws, as the demo and ops pages follow
// something live: authenticates in connection_init, answers pings, and when the socket
// drops (a web node stopping, the network) or Redis is out (SERVICE_UNAVAILABLE)
// reconnects with backoff and subscribes again, so getting the current state first;
// gives up on a refusal or after MAX_RECONNECTS tries in a row. Served by the web node
// at /pagekit/livefeed.js (project/pagekit.py).

// Close codes after which reconnecting cannot help.
export const REFUSALS = { 4400: "BAD_REQUEST", 4403: "UNAUTHENTICATED", 4429: "RATE_LIMITED" };
const MAX_RECONNECTS = 5;

export class LiveFeed {
  /**
   * payload: the subscribe message's payload (query, operationName, variables).
   * authorization(): the Authorization value to send, or null.
   * onData(data): each result's data; returns true once the feed is done (a terminal
   *   state), after which the server's `complete` is expected, not an error.
   * onError(message, code): the feed ended on an error; it does not reconnect.
   * onState(state, text): "connecting", "lost" (reconnecting).
   */
  constructor({ payload, authorization, onData, onError, onState = () => {} }) {
    Object.assign(this, { payload, authorization, onData, onError, onState });
    this.reconnects = 0;
    this.done = false;
    this.finished = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.onState("connecting", "Connecting…");
    this.socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    this.socket.onopen = () => {
      const auth = this.authorization();
      this.send({ type: "connection_init", payload: auth ? { Authorization: auth } : {} });
    };
    this.socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    this.socket.onclose = (event) => this.closed(event);
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.reconnects = 0;
        this.send({ id: "feed", type: "subscribe", payload: this.payload });
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next": {
        const { data, errors } = message.payload;
        if (errors?.length) this.fail(errors[0]);
        else if (data && this.onData(data)) this.done = true;
        break;
      }
      case "error":
        this.fail(message.payload[0] ?? { message: "The subscription failed." });
        break;
      case "complete":
        if (this.done) this.close();
        else this.fail({ message: "The server ended the subscription." });
        break;
    }
  }

  fail(error) {
    const code = error.extensions?.code ?? "ERROR";
    if (code === "SERVICE_UNAVAILABLE" && this.reconnects < MAX_RECONNECTS) {
      // Redis is out for a while: the state comes back with it.
      this.socket.onclose = null;
      this.socket.close(1000);
      this.closed({ code: 1000, reason: "" });
      return;
    }
    this.close();
    this.onError(error.message, code);
  }

  closed(event) {
    if (this.finished) return;
    if (event.code in REFUSALS || this.reconnects >= MAX_RECONNECTS) {
      this.finished = true;
      const reason = event.reason || "The live connection to the server was lost.";
      this.onError(reason, REFUSALS[event.code] ?? "DISCONNECTED");
      return;
    }
    // 1001: the web node is shutting down; others: the network. Any node will do.
    const delay = Math.min(500 * 2 ** this.reconnects, 8000);
    this.reconnects += 1;
    this.onState("lost", "Connection lost; reconnecting…");
    this.retry = setTimeout(() => this.connect(), delay);
  }

  close() {
    this.finished = true;
    clearTimeout(this.retry);
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
  }
}
