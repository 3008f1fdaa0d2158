// The `ws` WebSocket, counting the sockets a client opens, so that a report says
// whether its operations shared one.
import WebSocket from "ws";

export function countingWebSocket(counter) {
  return class CountingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      counter.sockets += 1;
    }
  };
}
