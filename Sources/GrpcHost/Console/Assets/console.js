// The runtime-host console: plain JavaScript, no dependencies. It reads the gateway's JSON routes
// (with the token in the Authorization header, never in a URL), samples /metrics for rates, and
// streams topic events and streamed answers by reading Server-Sent Events from fetch().
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const HISTORY = 150; // samples: 5 minutes at 2 s
const PAGE = 100;

const state = {
  token: sessionStorage.getItem("agents-console-token") || "",
  view: "overview",
  reachable: null,
  recoveredAt: 0,
  history: [],
  previous: null,
  workersOffset: 0,
  tail: null,
};

class ConsoleError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// MARK: Requests

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  let response;
  try {
    response = await fetch(path, { ...options, headers, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    setReachable(false);
    throw new ConsoleError("unreachable", "the host cannot be reached");
  }
  setReachable(true);
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    showLogin(state.token ? "The host refused this token: " + (body.message || "unauthenticated") : "");
    throw new ConsoleError("unauthenticated", body.message || "unauthenticated");
  }
  return response;
}

async function apiJSON(path) {
  const response = await api(path);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ConsoleError(body.code || "error", body.message || response.statusText);
  return body;
}

// Reads Server-Sent Events from a fetch() response; calls onEvent({event, id, data}) for each.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", id: null, data: "" };
      let isEvent = false;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(": ");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 2);
        if (field === "event") { event.event = text; isEvent = true; }
        else if (field === "id") event.id = text;
        else if (field === "data") { event.data += (event.data ? "\n" : "") + text; isEvent = true; }
      }
      if (isEvent) onEvent(event);
    }
  }
}

// MARK: Status and login

function setReachable(reachable) {
  if (reachable && state.reachable === false) state.recoveredAt = Date.now();
  state.reachable = reachable;
  const status = $("status");
  if (!reachable) {
    status.textContent = "host unreachable — retrying";
    status.className = "status down";
  } else if (Date.now() - state.recoveredAt < 6000) {
    status.textContent = "reconnected";
    status.className = "status again";
  } else {
    status.textContent = "connected";
    status.className = "status ok";
  }
}

function showLogin(message) {
  $("login").hidden = false;
  $("main").hidden = true;
  $("login-error").textContent = message || "";
  $("token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    const overview = await apiJSON("/v1/overview");
    sessionStorage.setItem("agents-console-token", token);
    $("login").hidden = true;
    $("main").hidden = false;
    renderOverview(overview);
    refresh();
  } catch (error) {
    if (error.code !== "unauthenticated") $("login-error").textContent = error.message;
  }
}

// MARK: Views

function show(view) {
  state.view = view;
  for (const button of document.querySelectorAll("#nav button")) button.classList.toggle("active", button.dataset.view === view);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  // Render the new view at once; the refresh loop keeps it current.
  if (view === "workers") renderWorkers().catch(() => {});
  if (view === "types" || view === "invoke") renderTypes().catch(() => {});
}

function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function number(n) {
  return n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US");
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function renderOverview(o) {
  $("ov-uptime").textContent = duration(o.uptimeSeconds);
  $("ov-workers").textContent = number(o.workers);
  $("ov-types").textContent = number(o.agentTypes);
  $("ov-instances").textContent = number(o.instances);
  $("ov-subscriptions").textContent = number(o.subscriptions);
  $("ov-pending").textContent = number(o.pendingRpcs);
  $("ov-readers").textContent = number(o.tapReaders);
  $("who").textContent = "as " + o.identity;
}

// Counters from the Prometheus text of /metrics.
function counters(text) {
  const value = (pattern) => {
    const match = text.match(pattern);
    return match ? Number(match[1]) : 0;
  };
  return {
    events: value(/^agents_host_messages_routed_total\{kind="event"\} (\S+)$/m),
    requests: value(/^agents_host_messages_routed_total\{kind="request"\} (\S+)$/m),
  };
}

async function sampleRates(overview) {
  const response = await api("/metrics");
  const sample = { time: Date.now(), ...counters(await response.text()), failed: overview.calls.failed };
  const previous = state.previous;
  state.previous = sample;
  if (!previous || sample.events < previous.events) return; // first sample, or the host restarted
  const seconds = (sample.time - previous.time) / 1000;
  state.history.push({
    publish: (sample.events - previous.events) / seconds,
    rpc: (sample.requests - previous.requests) / seconds,
    errors: Math.max(0, sample.failed - previous.failed) / seconds,
  });
  if (state.history.length > HISTORY) state.history.shift();
  for (const key of ["publish", "rpc", "errors"]) {
    const last = state.history[state.history.length - 1][key];
    $("rate-" + key).textContent = last.toFixed(last < 10 ? 1 : 0);
    drawChart($("chart-" + key), state.history.map((point) => point[key]));
  }
}

function drawChart(canvas, values) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const max = Math.max(1, ...values);
  context.strokeStyle = "#d9dee7";
  context.beginPath();
  context.moveTo(0, height - 0.5);
  context.lineTo(width, height - 0.5);
  context.stroke();
  context.fillStyle = "#667085";
  context.font = "11px system-ui, sans-serif";
  context.fillText(max.toFixed(max < 10 ? 1 : 0), 4, 12);
  if (values.length < 2) return;
  const step = width / (HISTORY - 1);
  const x0 = width - step * (values.length - 1);
  context.strokeStyle = "#2c5cc5";
  context.lineWidth = 2;
  context.beginPath();
  values.forEach((value, index) => {
    const x = x0 + index * step;
    const y = height - 4 - (value / max) * (height - 20);
    if (index === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

async function renderWorkers() {
  const filter = encodeURIComponent($("workers-filter").value.trim());
  const page = await apiJSON(`/v1/workers?offset=${state.workersOffset}&limit=${PAGE}&q=${filter}`);
  if (page.total > 0 && state.workersOffset >= page.total) {
    state.workersOffset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return renderWorkers();
  }
  const rows = $("workers-rows");
  rows.replaceChildren();
  for (const worker of page.workers) {
    const row = document.createElement("tr");
    cell(row, worker.clientId, "mono");
    cell(row, worker.address, "mono");
    cell(row, worker.identity);
    cell(row, new Date(worker.connectedAt).toLocaleString());
    cell(row, worker.types.join(", "));
    cell(row, number(worker.instances), "num");
    cell(row, number(worker.messagesIn), "num");
    cell(row, number(worker.messagesOut), "num");
    rows.appendChild(row);
  }
  const last = Math.min(page.total, state.workersOffset + page.workers.length);
  $("workers-count").textContent = page.total + " worker" + (page.total === 1 ? "" : "s");
  $("workers-page").textContent = page.total ? `${state.workersOffset + 1}–${last} of ${page.total}` : "none";
  $("workers-prev").disabled = state.workersOffset === 0;
  $("workers-next").disabled = last >= page.total;
}

async function renderTypes() {
  const { agentTypes } = await apiJSON("/v1/agent-types");
  const known = $("known-types");
  known.replaceChildren(...agentTypes.map((t) => Object.assign(document.createElement("option"), { value: t.type })));
  if (state.view !== "types") return;
  const filter = $("types-filter").value.trim().toLowerCase();
  const shown = agentTypes.filter((t) => t.type.toLowerCase().includes(filter)).slice(0, 500);
  const rows = $("types-rows");
  rows.replaceChildren();
  for (const type of shown) {
    const row = document.createElement("tr");
    cell(row, type.type, "mono");
    cell(row, number(type.workers), "num");
    cell(row, number(type.instances), "num");
    cell(row, type.subscriptions.map((s) => s.topicType ?? s.topicTypePrefix + "*").join(", "), "mono");
    cell(row, number(type.calls), "num");
    const rate = type.calls ? ` (${((100 * type.errors) / type.calls).toFixed(1)}%)` : "";
    cell(row, number(type.errors) + rate, "num");
    cell(row, type.p50Ms === undefined ? "–" : type.p50Ms.toFixed(2) + " ms", "num");
    cell(row, type.p99Ms === undefined ? "–" : type.p99Ms.toFixed(2) + " ms", "num");
    rows.appendChild(row);
  }
  $("types-count").textContent = `${agentTypes.length} type${agentTypes.length === 1 ? "" : "s"}` + (shown.length < agentTypes.length ? `, ${shown.length} shown` : "");
}

// MARK: Refresh loop

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      if (!$("login").hidden) return;
      const overview = await apiJSON("/v1/overview");
      renderOverview(overview);
      await sampleRates(overview);
      if (state.view === "workers") await renderWorkers();
      if (state.view === "types" || state.view === "invoke") await renderTypes();
    } catch (error) {
      // Unreachable or refused: the status and the login form say so; the next tick retries.
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function tick() {
  refresh().finally(() => setTimeout(tick, POLL_MS));
}

// MARK: Topic tail

function tailState(text) {
  $("tail-state").textContent = text;
}

async function watchTopic() {
  const tail = state.tail;
  const topic = encodeURIComponent(tail.topic);
  const query = new URLSearchParams();
  if (tail.prefix) query.set("prefix", "true");
  if (tail.source) query.set("source", tail.source);
  while (state.tail === tail && !tail.paused) {
    tail.controller = new AbortController();
    const headers = tail.lastId ? { "Last-Event-ID": tail.lastId } : {};
    try {
      const response = await api(`/v1/topics/${topic}/events?${query}`, { headers, signal: tail.controller.signal });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        tailState("refused: " + (body.message || response.statusText));
        return stopTail();
      }
      tailState("watching " + tail.topic + (tail.prefix ? "*" : ""));
      await readEvents(response, (event) => {
        if (event.event === "error") {
          const body = JSON.parse(event.data);
          tailState("the host ended the stream: " + body.message);
          return;
        }
        tail.lastId = event.id || tail.lastId;
        addTailEvent(event);
      });
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.code === "unauthenticated") return stopTail();
    }
    if (state.tail !== tail || tail.paused) return;
    tailState("disconnected — reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function addTailEvent(event) {
  let body;
  try { body = JSON.parse(event.data); } catch { body = { data: event.data }; }
  const card = document.createElement("div");
  card.className = "event";
  const meta = document.createElement("div");
  meta.className = "meta";
  for (const text of [`#${event.id}`, new Date(body.time || Date.now()).toLocaleTimeString(), `${body.type}/${body.source}`, body.dataschema || body.datacontenttype || ""]) {
    const span = document.createElement("span");
    span.textContent = text;
    meta.appendChild(span);
  }
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(body.data !== undefined ? body.data : body.data_base64, null, 2);
  card.append(meta, pre);
  const list = $("tail-events");
  list.prepend(card);
  while (list.children.length > 500) list.lastChild.remove();
}

function startTail(event) {
  event.preventDefault();
  stopTail();
  state.tail = { topic: $("tail-topic").value.trim(), prefix: $("tail-prefix").checked, source: $("tail-source").value.trim(), lastId: null, paused: false };
  $("tail-pause").disabled = false;
  $("tail-pause").textContent = "Pause";
  watchTopic();
}

function togglePause() {
  const tail = state.tail;
  if (!tail) return;
  tail.paused = !tail.paused;
  $("tail-pause").textContent = tail.paused ? "Resume" : "Pause";
  if (tail.paused) {
    tail.controller?.abort();
    tailState("paused (resuming replays what the host still holds)");
  } else {
    watchTopic();
  }
}

function stopTail() {
  state.tail?.controller?.abort();
  state.tail = null;
  $("tail-pause").disabled = true;
}

// MARK: Invoke

async function invoke(event) {
  event.preventDefault();
  const type = encodeURIComponent($("invoke-type").value.trim());
  const key = encodeURIComponent($("invoke-key").value.trim());
  const messageType = encodeURIComponent($("invoke-message-type").value.trim());
  const stream = $("invoke-stream").checked;
  const body = $("invoke-body").value;
  try { JSON.parse(body); } catch (error) { $("invoke-error").textContent = "The message is not JSON: " + error.message; return; }
  $("invoke-error").textContent = "";
  $("invoke-result").hidden = true;
  $("invoke-chunks").replaceChildren();
  $("invoke-send").disabled = true;
  $("invoke-state").textContent = "waiting for the answer…";
  const started = performance.now();
  try {
    const headers = { "Content-Type": "application/json" };
    if (stream) headers.Accept = "text/event-stream";
    const response = await api(`/v1/agents/${type}/${key}?type=${messageType}`, { method: "POST", headers, body });
    if (stream && response.ok) {
      await readEvents(response, (event) => {
        const data = JSON.parse(event.data);
        if (event.event === "chunk") {
          const chunk = document.createElement("span");
          chunk.className = "chunk";
          chunk.textContent = typeof data.data === "object" && data.data && "text" in data.data ? data.data.text : JSON.stringify(data.data ?? data);
          $("invoke-chunks").appendChild(chunk);
        } else if (event.event === "result") {
          showResult(data && data.data !== undefined ? data.data : data);
        } else if (event.event === "error") {
          $("invoke-error").textContent = `${data.code}: ${data.message}`;
        }
      });
    } else {
      const text = await response.text();
      let answer;
      try { answer = JSON.parse(text); } catch { answer = text; }
      if (response.ok) showResult(answer);
      else $("invoke-error").textContent = `${answer.code || response.status}: ${answer.message || text}`;
    }
    $("invoke-state").textContent = `answered in ${(performance.now() - started).toFixed(0)} ms`;
  } catch (error) {
    $("invoke-error").textContent = error.message;
    $("invoke-state").textContent = "";
  } finally {
    $("invoke-send").disabled = false;
  }
}

function showResult(value) {
  const result = $("invoke-result");
  result.textContent = JSON.stringify(value, null, 2);
  result.hidden = false;
}

// MARK: Start

for (const button of document.querySelectorAll("#nav button")) button.addEventListener("click", () => show(button.dataset.view));
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value.trim());
});
$("change-token").addEventListener("click", () => showLogin(""));
$("workers-filter").addEventListener("input", () => { state.workersOffset = 0; renderWorkers().catch(() => {}); });
$("workers-prev").addEventListener("click", () => { state.workersOffset = Math.max(0, state.workersOffset - PAGE); renderWorkers().catch(() => {}); });
$("workers-next").addEventListener("click", () => { state.workersOffset += PAGE; renderWorkers().catch(() => {}); });
$("types-filter").addEventListener("input", () => renderTypes().catch(() => {}));
$("tail-form").addEventListener("submit", startTail);
$("tail-pause").addEventListener("click", togglePause);
$("tail-clear").addEventListener("click", () => $("tail-events").replaceChildren());
$("invoke-form").addEventListener("submit", invoke);
tick();
