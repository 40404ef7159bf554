// Services written with the official TypeScript SDK (@restatedev/restate-sdk 1.17.2), plain
// CommonJS so no build step is needed. tests/ts/test_ts_sdk.py runs this with node and drives
// the services through a server's ingress:
//
//   NODE_PATH=<npm cache>/node_modules node services.cjs h2|http1
//
// h2: HTTP/2 cleartext, bidirectional streaming (register with {"uri": ...});
// http1: HTTP/1.1, request-response (register with {"uri": ..., "use_http_11": true}).
// It listens on a port the OS picks, on 127.0.0.1 only, and prints "listening on <port>".
"use strict";

// The SDK calls Promise.withResolvers (ES2024), which node 20 lacks. Defined before the SDK is
// loaded, and only where missing.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const http = require("node:http");
const http2 = require("node:http2");

let restate;
try {
  restate = require("@restatedev/restate-sdk");
} catch (error) {
  console.error(
    `cannot load @restatedev/restate-sdk (${error.code || error}); run scripts/install-interop`,
  );
  process.exit(3);
}

// A counter: exclusive `add`, shared `get`; state per key.
const counter = restate.object({
  name: "TsCounter",
  handlers: {
    add: async (ctx, delta) => {
      const count = ((await ctx.get("count")) ?? 0) + delta;
      ctx.set("count", count);
      return count;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("count")) ?? 0),
  },
});

// A workflow: `run` records a durable step, then waits on a promise that the shared handler
// `decide` resolves; `stage` reads the state while `run` waits.
const approval = restate.workflow({
  name: "TsApproval",
  handlers: {
    run: async (ctx, request) => {
      const ticket = await ctx.run("open ticket", () => `ticket-${ctx.key}`);
      ctx.set("stage", "waiting");
      const decision = await ctx.promise("decision");
      ctx.set("stage", "decided");
      return { request, ticket, decision };
    },
    decide: async (ctx, decision) => {
      await ctx.promise("decision").resolve(decision);
    },
    stage: async (ctx) => (await ctx.get("stage")) ?? "none",
  },
});

const transport = process.argv[2];
const endpoint = restate.endpoint().bind(counter).bind(approval);
let server;
if (transport === "h2") {
  server = http2.createServer(endpoint.http2Handler());
} else if (transport === "http1") {
  server = http.createServer(endpoint.http1Handler());
} else {
  console.error(`usage: node services.cjs h2|http1 (got ${transport})`);
  process.exit(2);
}
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
