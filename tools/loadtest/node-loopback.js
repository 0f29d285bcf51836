// Preloaded by bench.sh (`node -r ./tools/loadtest/node-loopback.js seed000.js PORT`):
// the Node.js baseline calls server.listen(PORT), which listens on every
// interface; this makes a listen on a bare port listen on 127.0.0.1 only,
// so that the benchmark keeps everything on loopback without editing the
// baseline's own code.
"use strict";
const net = require("net");

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const barePort = typeof port === "number" || (typeof port === "string" && /^\d+$/.test(port));
  if (barePort && (args.length === 1 || typeof args[1] === "function")) {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
