// Turnstile console: a small page over the server's own HTTP API (no framework, no build).
// Views (by URL hash): #/threads, #/thread/<id>, #/run/<thread>/<run>, #/queue, #/send.
// Every value from the server is put in the page as text, never as HTML.
"use strict";
(() => {
  const ROOT = document.documentElement.dataset.root || "";
  const NEEDS_TOKEN = document.documentElement.dataset.auth === "1";
  const REFRESH_MS = 2000;
  const KEYS = { token: "turnstile.token", header: "turnstile.header", writes: "turnstile.writes" };
  const $ = (id) => document.getElementById(id);

  let view = null; // {refresh(), stop()} of the view on screen
  let conversation = null; // the thread the message box talks on

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children.filter((c) => c !== null && c !== undefined)) {
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const badge = (status) => el("span", { class: "status " + status }, status);
  const td = (content, cls) => el("td", cls ? { class: cls } : {}, content);
  const link = (href, text) => el("a", { href }, el("code", {}, text));
  const terms = (id, attr, rows) => // a <dl>'s [key, label, value] rows
    $(id).replaceChildren(...rows.flatMap(([k, label, v]) => [el("dt", {}, label), el("dd", { [attr]: k }, v)]));
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
  const short = (id) => String(id).slice(0, 8) + "…" + String(id).slice(-4);
  const compact = (value, limit = 400) => {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > limit ? text.slice(0, limit) + "…" : text;
  };

  function notice(text) {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // --- the API -------------------------------------------------------------------------
  function authHeaders() {
    const token = sessionStorage.getItem(KEYS.token);
    if (!token) return {};
    return sessionStorage.getItem(KEYS.header) === "x-api-key"
      ? { "x-api-key": token }
      : { authorization: /^\S+\s/.test(token) ? token : "Bearer " + token };
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(`${status}: ${detail}`);
      this.status = status;
    }
  }

  async function request(method, path, body, extra = {}, signal = undefined) {
    if (NEEDS_TOKEN && !sessionStorage.getItem(KEYS.token)) {
      throw new ApiError(401, "This server asks for a token: enter it above.");
    }
    const headers = { ...authHeaders(), ...extra };
    if (body !== undefined) headers["content-type"] = "application/json";
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const response = await fetch(ROOT + path, { method, headers, body: payload, signal });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) {
        // not JSON: the status text says it
      }
      throw new ApiError(response.status, detail);
    }
    return response;
  }

  async function api(method, path, body) {
    const response = await request(method, path, body);
    return response.status === 204 ? null : response.json();
  }

  const parsed = (raw) => {
    try {
      return JSON.parse(raw);
    } catch (_) {
      return raw; // not JSON: left as text
    }
  };

  // Server-sent events from a fetch (EventSource cannot send the token header).
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame = { event: "message", data: [], id: null };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") frame.event = text;
          else if (field === "data") frame.data.push(text);
          else if (field === "id") frame.id = text;
        }
        if (!frame.data.length) continue;
        onEvent({ event: frame.event, data: parsed(frame.data.join("\n")), id: frame.id });
      }
    }
  }

  function failed(error) {
    if (error && error.name === "AbortError") return;
    notice(error instanceof ApiError ? error.message : "The server did not answer: " + error);
  }

  // --- views ---------------------------------------------------------------------------
  function show(name) {
    for (const section of document.querySelectorAll(".view")) {
      section.hidden = section.id !== "view-" + name;
    }
    for (const link of document.querySelectorAll("nav a[data-view]")) {
      link.classList.toggle("current", link.dataset.view === name);
    }
  }

  function threadsView() {
    show("threads");
    async function refresh() {
      const body = { limit: 50, sort_by: "updated_at", sort_order: "desc" };
      const status = $("thread-status").value;
      const query = $("thread-query").value.trim();
      if (status) body.status = status;
      if (/^[0-9a-f-]{36}$/i.test(query)) body.ids = [query];
      else if (query.includes("=")) {
        const [key, ...rest] = query.split("=");
        body.metadata = { [key.trim()]: rest.join("=").trim() };
      }
      const threads = await api("POST", "/threads/search", body);
      const rows = threads.map((t) =>
        el("tr", { "data-thread-id": t.thread_id },
          td(link("#/thread/" + t.thread_id, t.thread_id)), td(badge(t.status), "thread-status"),
          td((t.metadata || {}).graph_id || ""), td(time(t.updated_at))),
      );
      $("thread-list").tBodies[0].replaceChildren(...rows);
    }
    return { refresh };
  }

  function timelineText(run) {
    return run.timeline.map((s) => `${s.step} ${time(s.at)}`).join(" → ");
  }

  function threadView(threadId) {
    show("thread");
    $("thread-id").textContent = threadId;
    async function refresh() {
      const [thread, runs, state, history] = await Promise.all([
        api("GET", `/threads/${threadId}`),
        api("GET", `/console/api/threads/${threadId}/runs`),
        api("GET", `/threads/${threadId}/state`),
        api("POST", `/threads/${threadId}/history`, { limit: 20 }),
      ]);
      $("thread-status-badge").replaceChildren(badge(thread.status));
      $("run-list").tBodies[0].replaceChildren(
        ...runs.map((r) =>
          el("tr", { "data-run-id": r.run_id },
            td(link(`#/run/${threadId}/${r.run_id}`, short(r.run_id))), td(badge(r.status), "run-status"),
            td(r.multitask_strategy), td(r.attempt, "attempts"), td(r.lease_owner || "", "worker"),
            td(timelineText(r), "timeline-text")),
        ),
      );
      $("state-next").textContent = JSON.stringify(state.next || []);
      $("state-values").textContent = JSON.stringify(state.values, null, 2);
      $("history").replaceChildren(
        ...history.map((h) => {
          const meta = h.metadata || {};
          const id = (h.checkpoint || {}).checkpoint_id || h.checkpoint_id || "";
          const next = h.next && h.next.length ? ` next: ${h.next.join(", ")}` : "";
          return el("li", { "data-checkpoint-id": id }, el("code", {}, id),
            ` step ${meta.step ?? "?"} (${meta.source || "?"})`, next);
        }),
      );
    }
    return { refresh };
  }

  function runView(threadId, runId) {
    show("run");
    $("run-id").textContent = runId;
    $("run-thread").href = "#/thread/" + threadId;
    $("events").replaceChildren();
    const controller = new AbortController();
    let live = true;

    async function refresh() {
      const run = await api("GET", `/console/api/runs/${runId}`);
      $("run-status").replaceChildren(badge(run.status));
      const facts = {
        Strategy: run.multitask_strategy,
        Attempts: run.attempt,
        Worker: run.lease_owner || "none",
        "Lease until": run.lease_expires_at ? time(run.lease_expires_at) : "",
        "Cancel asked": run.cancel_action || "",
      };
      terms("run-facts", "data-fact", Object.entries(facts).map(([k, v]) => [k, k, v]));
      $("run-timeline").replaceChildren(
        ...run.timeline.map((s) => el("li", { "data-step": s.step }, `${s.step} ${time(s.at)}`)),
      );
    }

    async function follow() {
      $("stream-state").textContent = "(live)";
      try {
        const path = `/threads/${threadId}/runs/${runId}/stream`;
        const replay = { "last-event-id": "0" }; // from its first event
        const response = await request("GET", path, undefined, replay, controller.signal);
        await readEvents(response, ({ event, data }) => {
          const list = $("events");
          list.append(el("li", { "data-event": event }, el("span", { class: "name" }, event), compact(data)));
          list.scrollTop = list.scrollHeight; // follow the newest event
        });
        $("stream-state").textContent = "(ended)";
        live = false;
        await refresh();
      } catch (error) {
        if (error.name !== "AbortError") {
          $("stream-state").textContent = "(stopped)";
          failed(error);
        }
      }
    }
    follow();
    return {
      refresh: () => (live ? refresh() : Promise.resolve()),
      stop: () => controller.abort(),
    };
  }

  function queueView() {
    show("queue");
    async function refresh() {
      const queue = await api("GET", "/console/api/queue");
      const labels = {
        runs_pending: "Runs waiting",
        runs_due: "Due now",
        runs_running: "Running",
        oldest_pending_seconds: "Oldest waiting (s)",
        workers_busy: "Workers busy",
        threads_busy: "Threads busy",
      };
      terms("queue-counts", "data-count", Object.entries(labels).map(([k, l]) => [k, l, queue.counts[k]]));
      $("busy-list").tBodies[0].replaceChildren(
        ...queue.busy_threads.map((b) =>
          el("tr", { "data-thread-id": b.thread_id },
            td(link("#/thread/" + b.thread_id, short(b.thread_id))),
            td(link(`#/run/${b.thread_id}/${b.run_id}`, short(b.run_id))), td(badge(b.run_status)),
            td(time(b.since)), td(b.worker || "", "worker"), td(b.attempt), td(b.queued_runs)),
        ),
      );
    }
    return { refresh };
  }

  function sendView() {
    show("send");
    const allowed = sessionStorage.getItem(KEYS.writes) === "1";
    $("allow-writes").checked = allowed;
    $("send").disabled = !allowed;
    async function loadAssistants() {
      const assistants = await api("POST", "/assistants/search", { limit: 100 });
      const select = $("assistant");
      const chosen = select.value;
      select.replaceChildren(
        ...assistants.map((a) => el("option", { value: a.assistant_id }, `${a.graph_id} (${a.name})`)),
      );
      if (chosen) select.value = chosen;
    }
    loadAssistants().catch(failed);
    return { refresh: () => Promise.resolve() };
  }

  const textOf = (content) => // a message's content: a string, or a list of parts
    typeof content === "string" ? content
      : Array.isArray(content) ? content.map((p) => (typeof p === "string" ? p : p.text || "")).join("")
        : "";

  async function send(event) {
    event.preventDefault();
    const text = $("message").value.trim();
    if (!text || $("send").disabled) return;
    const state = $("send-state");
    $("send").disabled = true;
    try {
      if (!conversation) conversation = (await api("POST", "/threads", {})).thread_id;
      const box = $("conversation");
      box.append(el("div", { class: "message human" }, text));
      $("message").value = "";
      state.textContent = "streaming…";
      const response = await request("POST", `/threads/${conversation}/runs/stream`, {
        assistant_id: $("assistant").value,
        input: { messages: [{ role: "user", content: text }] },
        stream_mode: ["messages-tuple"],
      });
      const runPath = response.headers.get("content-location") || "";
      const bubbles = new Map();
      await readEvents(response, ({ event, data }) => {
        if (event === "error") {
          box.append(el("div", { class: "message error" }, compact(data)));
          return;
        }
        if (!event.startsWith("messages") || !Array.isArray(data)) return;
        const chunk = data[0] || {};
        if (chunk.type !== "AIMessageChunk" && chunk.type !== "ai") return;
        const piece = textOf(chunk.content);
        if (!piece) return;
        if (!bubbles.has(chunk.id)) {
          bubbles.set(chunk.id, box.appendChild(el("div", { class: "message ai" })));
        }
        bubbles.get(chunk.id).textContent += piece;
      });
      const runId = runPath.split("/").pop();
      state.replaceChildren("done: ", el("a", { href: `#/run/${conversation}/${runId}` }, "its run"));
    } catch (error) {
      state.textContent = "failed";
      failed(error);
    } finally {
      $("send").disabled = sessionStorage.getItem(KEYS.writes) !== "1";
    }
  }

  // --- wiring --------------------------------------------------------------------------
  let refreshing = false;
  let again = false; // asked while a refresh was under way: one more after it
  async function tick() {
    if (!view || document.hidden) return;
    if (refreshing) return void (again = true);
    refreshing = true;
    try {
      await view.refresh();
      notice("");
    } catch (error) {
      failed(error);
    } finally {
      refreshing = false;
    }
    if (again) (again = false), tick();
  }

  function route() {
    if (view && view.stop) view.stop();
    const [name, a, b] = location.hash.replace(/^#\/?/, "").split("/");
    if (name === "thread" && a) view = threadView(a);
    else if (name === "run" && a && b) view = runView(a, b);
    else if (name === "queue") view = queueView();
    else if (name === "send") view = sendView();
    else view = threadsView();
    tick();
  }

  $("token-form").hidden = !NEEDS_TOKEN; // without custom auth the server takes no token
  $("token").value = sessionStorage.getItem(KEYS.token) || "";
  $("token-header").value = sessionStorage.getItem(KEYS.header) || "authorization";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEYS.token, $("token").value.trim());
    sessionStorage.setItem(KEYS.header, $("token-header").value);
    notice("");
    route();
  });
  $("thread-search").addEventListener("submit", (event) => event.preventDefault() || tick());
  $("allow-writes").addEventListener("change", () => {
    const on = $("allow-writes").checked;
    sessionStorage.setItem(KEYS.writes, on ? "1" : "0");
    $("send").disabled = !on;
  });
  $("send-form").addEventListener("submit", send);
  $("new-conversation").addEventListener("click", () => {
    conversation = null;
    $("conversation").replaceChildren();
    $("send-state").textContent = "";
  });
  window.addEventListener("hashchange", route);
  setInterval(tick, REFRESH_MS);
  route();
})();
