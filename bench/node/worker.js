// The celery-node contender's worker for bench/run: the same tasks as
// bench/run_lib/bench_tasks.py (celeriac.echo, gpt5_analyzer.analyze with the worker's
// own prompts, endpoints in turn, a 429 waits its Retry-After (at most 10 s), a 5xx or a
// connection error moves to the next endpoint, three attempts in all). Configured by
// BENCH_BROKER, BENCH_BACKEND, BENCH_QUEUE, BENCH_ENDPOINTS (JSON [{url, key}]).
// Run with NODE_PATH=<bench/.node/node_modules> (bench/run installs celery-node there).
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const celery = require("celery-node");

const prompts = path.join(__dirname, "..", "..", "worker", "tasks", "prompts");
const SYSTEM = fs.readFileSync(path.join(prompts, "analyze_system.txt"), "utf8");
const USER = fs.readFileSync(path.join(prompts, "analyze_user.txt"), "utf8");
const endpoints = JSON.parse(process.env.BENCH_ENDPOINTS || "[]");
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let turn = 0;

function post(ep, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(ep.url + "/chat/completions");
    const req = http.request(url, {
      method: "POST", agent, timeout: 60000,
      headers: { "Authorization": "Bearer " + ep.key, "Content-Type": "application/json",
                 "Content-Length": Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function analyze(kwargs) {
  const userText = USER.replace("{{locale}}", kwargs.locale || "ko")
                       .replace("{{hint}}", kwargs.hint || "none");
  const body = JSON.stringify({
    model: "gpt-4o",
    messages: [{ role: "system", content: SYSTEM },
               { role: "user", content: [{ type: "text", text: userText },
                                         { type: "image_url", image_url: { url: kwargs.image } }] }],
    response_format: { type: "json_object" }, max_tokens: 1024, user: kwargs.user_id,
  });
  const started = Date.now();
  let lastError = "no endpoint";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const ep = endpoints[turn++ % endpoints.length];
    let res;
    try {
      res = await post(ep, body);
    } catch (e) {
      lastError = "connection: " + e.message;
      continue;
    }
    if (res.status === 200) {
      const answer = JSON.parse(res.body);
      const result = JSON.parse(answer.choices[0].message.content);
      result.meta = { model: answer.model, endpoint: ep.url, attempts: attempt,
                      latency_ms: Date.now() - started };
      return result;
    }
    lastError = "HTTP " + res.status;
    if (res.status === 429) {
      await sleep(Math.min(parseFloat(res.headers["retry-after"] || "1"), 10) * 1000);
    }
  }
  throw new Error("LLM call failed after 3 attempts: " + lastError);
}

const worker = celery.createWorker(process.env.BENCH_BROKER, process.env.BENCH_BACKEND,
                                   process.env.BENCH_QUEUE || "celery");
worker.register("celeriac.echo", (x) => x);
worker.register("gpt5_analyzer.analyze", (kwargs) => analyze(kwargs));
console.info = () => {};  // celery-node logs every task at info: not part of the work
worker.start();
