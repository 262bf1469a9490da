// Custom auth through the official JS SDK against the server at $TURNSTILE_URL, which runs
// docs/auth (bearer tokens token-alice and token-bob; each sees only what they own).
//
// stdout carries one JSON object per line for tests/contract/test_js_sdk.py:
//   {"step": name, "ok": true, ...} for what worked, {"step": name, "status": <HTTP status>}
//   for what the server refused. Exits non-zero on an unexpected exception.
import { Client } from "@langchain/langgraph-sdk";

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const url = process.env.TURNSTILE_URL;
const as = (token) =>
  new Client({ apiUrl: url, defaultHeaders: token ? { Authorization: `Bearer ${token}` } : {} });
const alice = as("token-alice");
const bob = as("token-bob");
const input = { messages: [{ role: "user", content: "hi" }] };

async function refused(step, call) {
  try {
    await call();
    emit({ step, status: 200 });
  } catch (err) {
    emit({ step, status: err.status ?? null, message: String(err.message ?? err) });
  }
}

const thread = await alice.threads.create();
emit({ step: "create", ok: true, owner: thread.metadata.owner });
let events = 0;
for await (const chunk of alice.runs.stream(thread.thread_id, "agent", { input, streamMode: "values" })) {
  if (chunk.event === "values") events += 1;
}
emit({ step: "stream", ok: true, events });
const state = await alice.threads.getState(thread.thread_id);
emit({ step: "state", ok: true, messages: state.values.messages.length });

await refused("bob_get", () => bob.threads.get(thread.thread_id));
await refused("bob_state", () => bob.threads.getState(thread.thread_id));
await refused("bob_run", () => bob.runs.create(thread.thread_id, "agent", { input }));
const seen = await bob.threads.search({ limit: 100 });
emit({ step: "bob_search", ok: true, ids: seen.map((t) => t.thread_id) });
await refused("anonymous", () => as(null).threads.search());
