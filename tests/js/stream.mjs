// Streaming through the official JS SDK against the server at $TURNSTILE_URL.
//
//   node stream.mjs thread     client.runs.stream(threadId, "agent", {streamMode: ["messages-tuple", "values"]})
//   node stream.mjs stateless  client.runs.stream(null, "agent", {streamMode: "values"})
//   node stream.mjs join       client.runs.create(..., {streamResumable: true}) then client.runs.joinStream(),
//                              live and, after the run, again with lastEventId "-1" (replay)
//
// stdout carries one JSON object per line for tests/contract/test_js_sdk.py: every event the
// SDK yields ({"kind": "event" or "replay", "event", "id", "data"}), then {"kind": "end", ...} once the
// loop has ended. Exits non-zero on failure (an exception, or a scenario's own check).
import { Client } from "@langchain/langgraph-sdk";

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const url = process.env.TURNSTILE_URL;
if (!url) {
  console.error("TURNSTILE_URL is not set");
  process.exit(2);
}
const scenario = process.argv[2];
const client = new Client({ apiUrl: url });
const input = { messages: [{ role: "user", content: "what's the weather in sf?" }] };

async function drain(stream, kind = "event") {
  let count = 0;
  for await (const chunk of stream) {
    count += 1;
    emit({ kind, event: chunk.event, id: chunk.id ?? null, data: chunk.data });
  }
  return count;
}

async function threadStream() {
  const thread = await client.threads.create();
  emit({ kind: "thread", thread_id: thread.thread_id });
  let created = null;
  const count = await drain(
    client.runs.stream(thread.thread_id, "agent", {
      input,
      streamMode: ["messages-tuple", "values"],
      // Called with the run id/thread id the SDK reads from the response's
      // Content-Location header.
      onRunCreated: (meta) => {
        created = meta;
      },
    }),
  );
  const state = await client.threads.getState(thread.thread_id);
  emit({ kind: "end", count, run_created: created, state_messages: state.values.messages });
}

async function statelessStream() {
  let created = null;
  const count = await drain(
    client.runs.stream(null, "agent", {
      input,
      streamMode: "values",
      onRunCreated: (meta) => {
        created = meta;
      },
    }),
  );
  emit({ kind: "end", count, run_created: created });
}

async function joinStream() {
  const thread = await client.threads.create();
  const run = await client.runs.create(thread.thread_id, "agent", {
    input,
    streamMode: ["messages-tuple", "values"],
    streamResumable: true,
  });
  emit({ kind: "run", run_id: run.run_id, thread_id: thread.thread_id, status: run.status });
  // Joined right away, without Last-Event-ID: the live feed from now until the run ends.
  const count = await drain(client.runs.joinStream(thread.thread_id, run.run_id));
  const finished = await client.runs.get(thread.thread_id, run.run_id);
  const state = await client.threads.getState(thread.thread_id);
  // Joined again after the end with `lastEventId: "-1"`: a resumable run's stored events
  // are replayed from the start.
  const replayed = await drain(
    client.runs.joinStream(thread.thread_id, run.run_id, { lastEventId: "-1" }),
    "replay",
  );
  emit({
    kind: "end",
    count,
    replayed,
    run_status: finished.status,
    state_messages: state.values.messages,
  });
}

const scenarios = { thread: threadStream, stateless: statelessStream, join: joinStream };
if (!(scenario in scenarios)) {
  console.error(`usage: node stream.mjs ${Object.keys(scenarios).join("|")}`);
  process.exit(2);
}
try {
  await scenarios[scenario]();
} catch (e) {
  console.error(`stream scenario ${scenario} failed:`, e);
  process.exit(1);
}
