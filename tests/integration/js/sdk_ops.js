// Drives the relay with the official npm clients (openai, @anthropic-ai/sdk)
// for tests/integration/test_sdk.py.
//
//   NODE_PATH=<node_modules> node sdk_ops.js PLAN.json
//
// PLAN.json is an array of operations:
//   {"sdk": "openai"|"anthropic", "op": NAME, "base": URL, "key": KEY,
//    "auth": "apiKey"|"authToken" (anthropic), "retries": N (default 0),
//    "params": {...}}
// and the script prints one JSON array, one result per operation:
//   {"ok": true, "data": ..., "headers": {...}, "requests": N, "sent": [...]}
//   {"ok": false, "error_class": "RateLimitError", "status": 429,
//    "error": <body>, "headers": {...}, "requests": N, "sent": [...]}
// "requests" counts the HTTP requests the SDK really made (its retries
// included) through a counting fetch; "sent" lists each one's method, URL
// header names and body digest, so a test can compare what the SDK put on
// the wire with what the mock upstream received.
// Operations run one after another, never in parallel.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

function headersObj(h) {
  const out = {};
  if (!h) return out;
  if (typeof h.forEach === 'function') {
    h.forEach((v, k) => { out[k.toLowerCase()] = v; });
  } else {
    for (const k of Object.keys(h)) out[k.toLowerCase()] = h[k];
  }
  return out;
}

// A fetch that records every request the SDK makes.
function countingFetch(log) {
  return async (url, init) => {
    const h = headersObj(init && init.headers);
    const body = init && typeof init.body === 'string' ? init.body : null;
    log.push({ method: (init && init.method) || 'GET', url: String(url),
               header_names: Object.keys(h).sort(),
               anthropic_version: h['anthropic-version'] || null,
               // the exact bytes sent, as a digest (bodies may be 11 MB)
               body_sha256: body === null ? null :
                 crypto.createHash('sha256').update(body, 'utf8').digest('hex'),
               body_len: body === null ? null : Buffer.byteLength(body, 'utf8') });
    return fetch(url, init);
  };
}

function client(op, log) {
  const common = { maxRetries: op.retries || 0, timeout: 60000,
                   fetch: countingFetch(log) };
  if (op.sdk === 'openai')
    return new OpenAI.OpenAI({ ...common, baseURL: op.base, apiKey: op.key });
  const auth = op.auth === 'authToken' ? { authToken: op.key, apiKey: null }
                                       : { apiKey: op.key };
  return new Anthropic.Anthropic({ ...common, ...auth, baseURL: op.base });
}

// Each operation returns {data, headers}.
const OPS = {
  async 'openai.chat'(c, p) {
    const { data, response } = await c.chat.completions.create(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'openai.chat_stream'(c, p) {
    const { data: stream, response } = await c.chat.completions
      .create({ ...p, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    return { data: chunks, headers: headersObj(response.headers) };
  },
  async 'openai.models'(c) {
    const ids = [];
    for await (const m of c.models.list()) ids.push(m.id);
    return { data: ids, headers: {} };
  },
  async 'openai.models_retrieve'(c, p) {
    const data = await c.models.retrieve(p.id);
    return { data, headers: {} };
  },
  async 'openai.embeddings'(c, p) {
    const { data, response } = await c.embeddings.create(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'openai.completions'(c, p) {
    const { data, response } = await c.completions.create(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'openai.responses'(c, p) {
    const { data, response } = await c.responses.create(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'openai.responses_stream'(c, p) {
    const stream = await c.responses.create({ ...p, stream: true });
    const events = [];
    for await (const ev of stream) events.push(ev);
    return { data: events, headers: {} };
  },
  async 'openai.post'(c, p) {
    // a path the SDK has no method for (unknown routes)
    const data = await c.post(p.path, { body: p.body });
    return { data, headers: {} };
  },
  async 'anthropic.messages'(c, p) {
    const { data, response } = await c.messages.create(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'anthropic.messages_stream'(c, p) {
    const { data: stream, response } = await c.messages
      .create({ ...p, stream: true }).withResponse();
    const events = [];
    for await (const ev of stream) events.push(ev);
    return { data: events, headers: headersObj(response.headers) };
  },
  async 'anthropic.messages_helper'(c, p) {
    // the SDK's own accumulating stream helper: finalMessage()
    const s = c.messages.stream(p);
    const msg = await s.finalMessage();
    return { data: msg, headers: {} };
  },
  async 'anthropic.count_tokens'(c, p) {
    const { data, response } = await c.messages.countTokens(p).withResponse();
    return { data, headers: headersObj(response.headers) };
  },
  async 'anthropic.models'(c) {
    const page = await c.models.list();
    const ids = [];
    for await (const m of page) ids.push(m);
    return { data: ids, headers: {} };
  },
  async 'anthropic.post'(c, p) {
    const data = await c.post(p.path, { body: p.body });
    return { data, headers: {} };
  },
};

async function runOne(op) {
  const log = [];
  const fn = OPS[op.sdk + '.' + op.op];
  if (!fn) return { ok: false, error_class: 'UnknownOperation', status: null };
  try {
    const r = await fn(client(op, log), op.params || {});
    return { ok: true, data: r.data, headers: r.headers, requests: log.length, sent: log };
  } catch (e) {
    return { ok: false, error_class: e && e.constructor ? e.constructor.name : String(e),
             status: e && e.status !== undefined ? e.status : null,
             error: e && e.error !== undefined ? e.error : null,
             message: e && e.message ? String(e.message) : String(e),
             headers: headersObj(e && e.headers), requests: log.length, sent: log };
  }
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = [];
  for (const op of plan) out.push(await runOne(op));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
