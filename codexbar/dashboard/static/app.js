// The dashboard page: asks the JSON API (same origin, the cookie carries the secret) and draws.
// Every text goes in through textContent, never as HTML: project paths and model names come
// from files on disk.
"use strict";

const state = {
  range: "last30days", home: "all", metric: "cost", bucket: "day", window: "session", days: 1,
};
const models = []; // every model seen, in the order its colour was given
const REFRESH_MS = 60000;
const PALETTE_SIZE = 8;

function $(id) { return document.getElementById(id); }

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, params = {}, options = {}) {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`/api/${path}${query ? "?" + query : ""}`, {
    credentials: "same-origin", headers: { Accept: "application/json" }, ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `the dashboard answered ${response.status}`);
  return body;
}

const problems = new Map();
function report(where, error) {
  if (error) problems.set(where, `${where}: ${error.message}`);
  else problems.delete(where);
  const box = $("problems");
  box.hidden = problems.size === 0;
  box.textContent = [...problems.values()].join(" · ");
}

function colourOf(model) {
  let index = models.indexOf(model);
  if (index < 0) { models.push(model); index = models.length - 1; }
  return index % PALETTE_SIZE;
}

function bar(percent, extraClass, marker) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  const track = h("span", { class: `bar ${extraClass || ""}` }, fill);
  if (marker !== undefined && marker !== null) {
    const tick = h("span", { class: "marker", title: `Even pace: ${Format.percent(marker)} left by now` });
    tick.style.left = `${Math.max(0, Math.min(100, marker))}%`;
    track.append(tick);
  }
  return track;
}

function level(usedPercent) {
  return usedPercent >= 90 ? "high" : usedPercent >= 70 ? "mid" : "low";
}

// Limit bars fill by what is left, like the tray icon; the tick is what an even pace would
// leave by now.
function leftBar(leftPercent, expectedUsedPercent) {
  const marker = expectedUsedPercent === undefined || expectedUsedPercent === null
    ? null : 100 - expectedUsedPercent;
  return bar(leftPercent, level(100 - leftPercent), marker);
}

// -- limits ----------------------------------------------------------------------------------

function windowCard(account, w) {
  const pace = w.pace;
  const resets = w.resets_at ? new Date(w.resets_at) : null;
  const resetText = !resets ? "" : w.reset_passed
    ? `Reset at ${Format.clock(resets)} has passed; likely refilled`
    : `Resets ${Format.countdown(resets, new Date())}`;
  const stage = !pace ? "" : Math.abs(pace.delta_percent) <= 2 ? "on-pace"
    : pace.delta_percent > 0 ? "deficit" : "reserve";
  return h("article", { class: "card limit" },
    h("header", {},
      h("h3", { text: w.label }),
      h("span", { class: "muted", text: account.identity.email || "" })),
    h("p", { class: "big" }, h("strong", { text: Format.percent(w.remaining_percent) }), " left"),
    leftBar(w.remaining_percent, pace ? pace.expected_used_percent : null),
    h("p", { class: "reset", "data-resets": w.reset_passed ? null : w.resets_at, text: resetText }),
    w.pace_text ? h("p", { class: `pace ${stage}`, text: w.pace_text }) : null);
}

function creditsCard(account) {
  const credits = account.credits;
  const pool = account.credit_pool;
  const cards = [];
  if (pool) {
    cards.push(h("article", { class: "card limit" },
      h("header", {}, h("h3", { text: pool.label })),
      h("p", { class: "big" }, h("strong", { text: Format.percent(pool.remaining_percent) }), " left"),
      leftBar(pool.remaining_percent),
      h("p", { class: "reset", text: `${pool.used} of ${pool.limit} used` })));
  }
  if (credits && (credits.unlimited || credits.balance !== null)) {
    const ranges = [["local", credits.approx_local_messages], ["cloud", credits.approx_cloud_messages]]
      .filter(([, pair]) => pair)
      .map(([where, [low, high]]) => `≈${low.toLocaleString("en-US")}–${high.toLocaleString("en-US")} ${where} messages left`);
    cards.push(h("article", { class: "card limit" },
      h("header", {}, h("h3", { text: "Credits" })),
      h("p", { class: "big" }, h("strong", { text: credits.unlimited ? "Unlimited" : credits.balance })),
      ranges.map((text) => h("p", { class: "reset", text }))));
  }
  return cards;
}

function renderLimits(data) {
  const box = $("limits");
  box.replaceChildren();
  const notes = [];
  for (const account of data.accounts) {
    if (account.error && !account.windows.length) {
      box.append(h("article", { class: "card error" },
        h("header", {}, h("h3", { text: "Limits unavailable" }), h("span", { class: "muted", text: account.home })),
        h("p", { text: account.error.message })));
      continue;
    }
    for (const w of account.windows) box.append(windowCard(account, w));
    box.append(...creditsCard(account));
    if (account.blocked) box.append(h("article", { class: "card error" }, h("h3", { text: "Blocked" }), h("p", { text: account.blocked })));
    if (account.observed_at) {
      notes.push(`Updated ${Format.age(new Date(account.observed_at), new Date())} via ${account.source_title || account.source}`);
    }
  }
  if (!box.children.length) box.append(h("p", { class: "muted", text: "No limits to show." }));
  $("limits-note").textContent = notes.join(" · ");
}

function tickCountdowns() {
  for (const node of document.querySelectorAll("[data-resets]")) {
    node.textContent = `Resets ${Format.countdown(new Date(node.dataset.resets), new Date())}`;
  }
}

// -- cost ------------------------------------------------------------------------------------

function renderTiles(summary) {
  const t = summary.totals;
  const tile = (label, value, note) => h("div", { class: "tile" },
    h("span", { class: "muted", text: label }), h("strong", { text: value }), note ? h("small", { class: "muted", text: note }) : null);
  const span = summary.range.since ? `${summary.range.since} – ${summary.range.until}` : `all time – ${summary.range.until}`;
  // The day pickers show the range the figures are for, whichever way it was chosen.
  if (summary.range.since) $("since").value = summary.range.since;
  $("until").value = summary.range.until;
  $("tiles").replaceChildren(
    tile("Estimated cost", Format.dollars(t.cost_usd), span),
    tile("Tokens", Format.tokens(t.total_tokens), "input + output"),
    tile("Input", Format.tokens(t.input_tokens), `${Format.tokens(t.cached_input_tokens)} cached`),
    tile("Output", Format.tokens(t.output_tokens), `${Format.tokens(t.reasoning_output_tokens)} reasoning`),
    tile("Today", Format.dollars(summary.today.cost_usd), `${Format.tokens(summary.today.total_tokens)} tokens`));
  if (summary.unpriced_models.length) {
    report("Pricing", new Error(`no price for ${summary.unpriced_models.join(", ")}; their cost shows as —`));
  } else report("Pricing");
}

function hourLabel(label) {
  const [day, time] = label.split("T");
  return time === "00:00" ? Format.shortDay(day) : time.slice(0, 2) + "h";
}

const drawn = { usage: null, history: null };

function renderUsage(series) {
  drawn.usage = series;
  const format = series.metric === "cost" ? Format.dollars : Format.tokens;
  series.models.forEach(colourOf);
  const points = series.points.map((p) => ({
    label: series.bucket === "day" ? p.start : p.start.replace("T", " "),
    models: Object.fromEntries(Object.entries(p.models).map(([m, v]) => [m, v || 0])),
  }));
  $("usage-title").textContent = `${series.metric === "cost" ? "Cost" : "Tokens"} per ${series.bucket}`;
  Charts.stackedBars($("usage-chart"), {
    points, models: series.models, format, colourOf,
    tickLabel: series.bucket === "day" ? Format.shortDay : (l) => hourLabel(l.replace(" ", "T")),
    label: `${series.metric} per ${series.bucket}, stacked by model`,
  });
  $("legend").replaceChildren(...series.models.map((m) =>
    h("li", {}, h("span", { class: `swatch c${colourOf(m)}` }), m)));
}

// c.num: a right-aligned number; c.optional: hidden on a narrow window; c.nowrap: one line.
function cellClass(c) {
  return [c.num && "num", c.optional && "optional", c.nowrap && "nowrap"].filter(Boolean).join(" ") || null;
}

function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted", text: empty });
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: cellClass(c), text: c.title })))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => {
      const value = c.value(row);
      return h("td", { class: cellClass(c), title: c.hint ? c.hint(row) : null },
        value instanceof Node ? value : String(value));
    })))));
}

function renderBreakdown(id, data) {
  const total = data.totals.total_tokens || 1;
  const name = (row) => {
    if (data.by === "model") return h("span", {}, h("span", { class: `swatch c${colourOf(row.name)}` }), row.name);
    if (data.by === "project") return h("span", { class: "path", title: row.name, text: row.name.split("/").filter(Boolean).pop() || row.name });
    return row.name;
  };
  $(id).replaceChildren(table([
    { title: data.by[0].toUpperCase() + data.by.slice(1), value: name },
    { title: "Tokens", num: true, value: (r) => Format.tokens(r.total_tokens),
      hint: (r) => `${Format.tokens(r.input_tokens)} input (${Format.tokens(r.cached_input_tokens)} cached) · ${Format.tokens(r.output_tokens)} output` },
    { title: "Share", num: true, value: (r) => bar((r.total_tokens / total) * 100, "thin share") },
    { title: "Cost", num: true, value: (r) => Format.dollars(r.cost_usd) },
  ], data.rows, "No usage in this range."));
}

function renderEvents(data) {
  const now = new Date();
  $("events").replaceChildren(table([
    { title: "When", nowrap: true, value: (e) => Format.age(new Date(e.at), now), hint: (e) => Format.dateTime(new Date(e.at)) },
    { title: "Project", optional: true, value: (e) => e.project.split("/").filter(Boolean).pop() || e.project, hint: (e) => `${e.project} · session ${e.session}` },
    { title: "Model", nowrap: true, value: (e) => h("span", {}, h("span", { class: `swatch c${colourOf(e.model)}` }), e.model) },
    { title: "Effort", optional: true, value: (e) => e.effort || "default" },
    { title: "Tokens", num: true, value: (e) => Format.tokens(e.total_tokens),
      hint: (e) => `${Format.tokens(e.input_tokens)} input (${Format.tokens(e.cached_input_tokens)} cached) · ${Format.tokens(e.output_tokens)} output` },
    { title: "Cost", num: true, value: (e) => Format.dollars(e.cost_usd) },
  ], data.events, "No responses in this range."));
}

function renderActive(data) {
  const now = new Date();
  const box = $("active");
  if (!data.sessions.length) {
    box.replaceChildren(h("p", { class: "muted", text: `No session has answered in the last ${data.minutes} minutes.` }));
    return;
  }
  box.replaceChildren(...data.sessions.map((s) => {
    const used = s.context_used_percent;
    return h("div", { class: "session" },
      h("div", { class: "session-head" },
        h("strong", { class: "path", title: s.cwd, text: s.cwd.split("/").filter(Boolean).pop() || s.cwd }),
        h("span", { class: "muted", text: `${s.model}${s.effort ? " · " + s.effort : ""} · ${Format.age(new Date(s.last_event_at), now)}` })),
      used === null
        ? h("p", { class: "muted", text: `${Format.tokens(s.context_tokens)} tokens in context (window size unknown)` })
        : h("div", { class: "context" }, bar(used, level(used)),
          h("span", { class: "muted", text: `${Format.tokens(s.context_tokens)} of ${Format.tokens(s.context_window)} context · ${Format.percent(used)}` })));
  }));
}

// -- window history --------------------------------------------------------------------------

function renderHistory(data) {
  drawn.history = data;
  const start = new Date(data.since).getTime();
  const end = new Date(data.now).getTime();
  const series = data.accounts.map((account, i) => {
    const steps = account.readings.map((r, j) => {
      const next = account.readings[j + 1];
      const until = next ? new Date(next.at).getTime() : new Date(r.last_seen).getTime();
      return [new Date(r.at).getTime(), until, r.used_percent];
    });
    return { name: account.account, colour: i % PALETTE_SIZE, steps };
  });
  const guides = data.accounts.flatMap((a) => a.instances.filter((x) => x.starts_at)
    .map((x) => [new Date(x.starts_at).getTime(), new Date(x.resets_at).getTime()]));
  Charts.historyLines($("history-chart"), {
    start, end, series, guides, label: `${data.window} window, used percent over ${data.days} days`,
  });
  const past = data.accounts.flatMap((a) => a.past).slice(-12).reverse();
  $("past").replaceChildren(...(past.length ? [h("h3", { text: "Used when it reset" }), h("ul", {},
    past.map((p) => h("li", {}, h("span", { class: "muted", text: Format.dayTime(new Date(p.resets_at)) }),
      bar(p.used_percent, `thin ${level(p.used_percent)}`), h("span", { text: Format.percent(p.used_percent) }))))] : []));
}

// -- pricing ---------------------------------------------------------------------------------

function renderPricing(data) {
  data.models.filter((m) => m.seen).forEach((m) => colourOf(m.model));
  const form = $("pricing");
  const input = (row, key) => h("input", {
    type: "number", min: "0", step: "0.001", name: `${row.model}|${key}`,
    value: row[key] === null ? "" : String(row[key]), "aria-label": `${row.model} ${key.replace("_", " ")}`,
    placeholder: "—",
  });
  const rows = data.models.map((row) => h("tr", { "data-model": row.model, "data-override": row.override ? "1" : null },
    h("td", { class: "nowrap" }, row.model, row.override ? h("span", { class: "badge", text: "yours" }) : null,
      row.seen ? null : h("span", { class: "badge muted", text: "not seen" })),
    h("td", { class: "num" }, input(row, "input")),
    h("td", { class: "num" }, input(row, "cached_input")),
    h("td", { class: "num" }, input(row, "output")),
    h("td", { class: "num" }, row.override
      ? h("button", { type: "button", class: "link", "data-remove": row.model, text: "Use default" }) : null)));
  form.replaceChildren(
    h("div", { class: "wide" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Model", "Input", "Cached", "Output", ""].map((t, i) => h("th", { class: i ? "num" : null, text: t })))),
      h("tbody", {}, rows))),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary", text: "Save prices" })));
  form.dataset.overrides = JSON.stringify(data.overrides);
  form.dataset.original = JSON.stringify(Object.fromEntries(data.models.map((m) => [m.model, m])));
  const status = $("pricing-status");
  status.textContent = data.problems.length ? data.problems.join(" · ") : `Overrides live in ${data.path}.`;
}

function collectOverrides(remove) {
  const form = $("pricing");
  const overrides = JSON.parse(form.dataset.overrides || "{}");
  const original = JSON.parse(form.dataset.original || "{}");
  for (const row of form.querySelectorAll("tr[data-model]")) {
    const model = row.dataset.model;
    const values = {};
    let changed = false;
    for (const key of ["input", "cached_input", "output"]) {
      const text = row.querySelector(`input[name="${CSS.escape(model + "|" + key)}"]`).value.trim();
      if (text !== "") values[key] = text;
      const before = original[model][key];
      if ((before === null ? "" : String(before)) !== text) changed = true;
    }
    if (changed || row.dataset.override) overrides[model] = values;
  }
  if (remove) delete overrides[remove];
  return overrides;
}

async function savePricing(remove) {
  const status = $("pricing-status");
  status.textContent = "Saving…";
  try {
    const data = await api("pricing", { home: state.home }, {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ models: collectOverrides(remove) }),
    });
    renderPricing(data);
    $("pricing-status").textContent = "Saved. Every total now uses these prices.";
    loadCost();
  } catch (error) {
    status.textContent = `Not saved: ${error.message}`;
  }
}

// -- loading ---------------------------------------------------------------------------------

async function section(name, work) {
  try { await work(); report(name); } catch (error) { report(name, error); }
}

function costParams(extra) { return { range: state.range, home: state.home, ...extra }; }

async function loadCost() {
  document.body.classList.add("loading");
  await Promise.all([
    section("Totals", async () => {
      const [summary, byModel] = await Promise.all([api("summary", costParams()), api("breakdown", costParams({ by: "model" }))]);
      byModel.rows.forEach((r) => colourOf(r.name));
      renderTiles(summary);
      renderBreakdown("by-model", byModel);
    }),
    loadChart(),
    section("Breakdown", async () => {
      const [effort, project] = await Promise.all([api("breakdown", costParams({ by: "effort" })), api("breakdown", costParams({ by: "project" }))]);
      renderBreakdown("by-effort", effort);
      renderBreakdown("by-project", project);
    }),
    section("Events", async () => renderEvents(await api("events", costParams({ limit: 50 })))),
  ]);
  document.body.classList.remove("loading");
  document.body.dataset.loadedRange = state.range;
}

const loadChart = () => section("Chart", async () =>
  renderUsage(await api("timeseries", costParams({ bucket: state.bucket, metric: state.metric }))));
const loadLimits = () => section("Limits", async () => renderLimits(await api("limits", { home: state.home })));
const loadHistory = () => section("History", async () => renderHistory(await api("limits/history", { window: state.window, days: state.days })));
const loadActive = () => section("Sessions", async () => renderActive(await api("sessions/active", { minutes: 30, home: state.home })));
const loadPricing = () => section("Pricing editor", async () => renderPricing(await api("pricing", { home: state.home })));

function choose(groupId, attribute, value) {
  for (const button of $(groupId).querySelectorAll("button")) {
    button.classList.toggle("on", button.dataset[attribute] === value);
  }
}

// A row of buttons that picks one value (data-<attribute>): mark it, then act on it.
function segmented(groupId, attribute, onChoose) {
  $(groupId).addEventListener("click", (event) => {
    const value = event.target.dataset && event.target.dataset[attribute];
    if (!value) return;
    choose(groupId, attribute, value);
    onChoose(value);
  });
}

function wire() {
  segmented("range", "range", (value) => { state.range = value; loadCost(); });
  $("custom").addEventListener("submit", (event) => {
    event.preventDefault();
    const since = $("since").value, until = $("until").value;
    if (!since || !until) { report("Range", new Error("pick both days")); return; }
    report("Range");
    state.range = `${since}..${until}`;
    choose("range", "range", null);
    loadCost();
  });
  segmented("metric", "metric", (value) => { state.metric = value; loadChart(); });
  segmented("bucket", "bucket", (value) => { state.bucket = value; loadChart(); });
  $("window").addEventListener("change", (event) => {
    // A day of 5-hour windows reads well; weekly windows need a month to show a few.
    state.window = event.target.value;
    state.days = state.window === "session" ? 1 : 30;
    $("days").value = String(state.days);
    loadHistory();
  });
  $("days").addEventListener("change", (event) => { state.days = Number(event.target.value); loadHistory(); });
  $("home").addEventListener("change", (event) => {
    state.home = event.target.value;
    loadCost(); loadLimits(); loadActive(); loadPricing();
  });
  $("pricing").addEventListener("submit", (event) => { event.preventDefault(); savePricing(); });
  $("pricing").addEventListener("click", (event) => {
    const model = event.target.dataset && event.target.dataset.remove;
    if (model) savePricing(model);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (drawn.usage) renderUsage(drawn.usage);
      if (drawn.history) renderHistory(drawn.history);
    }, 150);
  });
}

async function start() {
  wire();
  await section("Homes", async () => {
    const data = await api("homes");
    const select = $("home");
    for (const home of data.homes) {
      select.append(h("option", { value: String(home.index), text: (home.email ? home.email + " — " : "") + home.path + (home.exists ? "" : " (missing)") }));
    }
    select.closest("label").hidden = data.homes.length < 2;
  });
  const today = new Date();
  $("until").value = today.toISOString().slice(0, 10);
  $("since").value = new Date(today.getTime() - 6 * 86400e3).toISOString().slice(0, 10);
  // Colours follow the all-time model list (the pricing editor's), so a model keeps its colour
  // whichever answer arrives first.
  await loadPricing();
  await Promise.all([loadCost(), loadLimits(), loadHistory(), loadActive()]);
  document.body.dataset.ready = "1";
  setInterval(tickCountdowns, 15000);
  setInterval(() => { loadCost(); loadLimits(); loadHistory(); loadActive(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
