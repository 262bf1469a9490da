// The seed documents' JavaScript snippets ("Reject Concurrent" double-texting guide), ported
// as faithfully as possible and run against the server at $TURNSTILE_URL.
//
// stdout carries one JSON object per line for tests/contract/test_js_sdk.py to assert on;
// the guide's pretty printing and its console.error go to stderr. Exits non-zero on failure.
import { Client } from "@langchain/langgraph-sdk";

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

// The guide's helper, printing to stderr so that stdout stays JSON lines.
function prettyPrint(m) {
  const padded = " " + m["type"] + " ";
  const sepLen = Math.floor((80 - padded.length) / 2);
  const sep = "=".repeat(sepLen);
  const secondSep = sep + (padded.length % 2 ? "=" : "");

  console.error(`${sep}${padded}${secondSep}`);
  console.error("\n\n");
  console.error(m.content);
}

const url = process.env.TURNSTILE_URL;
if (!url) {
  console.error("TURNSTILE_URL is not set");
  process.exit(2);
}

// Setup: `new Client({ apiUrl: <DEPLOYMENT_URL> })`.
const client = new Client({ apiUrl: url });
// Using the graph deployed with the name "agent"
const assistantId = "agent";
const thread = await client.threads.create();
emit({ step: "thread", thread_id: thread["thread_id"] });

// Create runs.
//
// The guide writes the first call as
//     client.runs.create(thread["thread_id"], assistantId, input={"messages": [...]})
// which in JavaScript is an assignment to an (implicit global) variable `input` whose value
// is passed as the third positional argument, i.e. the payload itself: the SDK then reads
// `payload.input` (undefined) and sends no input at all (and in an ES module, which is
// strict mode, the assignment throws a ReferenceError). That is a documentation bug; the
// payload object form `{ input: ... }` below is what the guide means.
const run = await client.runs.create(thread["thread_id"], assistantId, {
  input: { messages: [{ role: "user", content: "what's the weather in sf?" }] },
});
emit({ step: "run", run });

let secondRunRejected = false;
try {
  const second = await client.runs.create(thread["thread_id"], assistantId, {
    input: { messages: [{ role: "user", content: "what's the weather in nyc?" }] },
    // The guide spells this `multitask_strategy: "reject"`, which the JS SDK silently
    // ignores (it reads `payload.multitaskStrategy`); the SDK's option is camelCase.
    multitaskStrategy: "reject",
  });
  emit({ step: "second_run", ok: true, run: second });
} catch (e) {
  console.error("Failed to start concurrent run", e);
  secondRunRejected = true;
  // The SDK's HTTPError carries the status and the response body text.
  emit({
    step: "second_run",
    ok: false,
    name: e?.constructor?.name,
    status: e?.status,
    text: e?.text,
    message: e?.message,
  });
}

// View run results: wait until the original run completes.
const joined = await client.runs.join(thread["thread_id"], run["run_id"]);
emit({ step: "join", keys: Object.keys(joined ?? {}).sort() });

const state = await client.threads.getState(thread["thread_id"]);

for (const m of state["values"]["messages"]) {
  prettyPrint(m);
}
emit({ step: "state", messages: state["values"]["messages"] });

const finished = await client.runs.get(thread["thread_id"], run["run_id"]);
emit({ step: "run_status", status: finished["status"] });

if (!secondRunRejected) {
  console.error("the concurrent run with multitaskStrategy 'reject' was not rejected");
  process.exit(1);
}
