// traj view: one page, hash routes, data only from /api (the store's projections), no dependencies.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PAGE_SIZE = 50;
const main = document.getElementById("main");

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  return fill(el, attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({detail: response.statusText}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const num = (v, digits = 4) => (v === null || v === undefined ? "–" : Number(v).toPrecision(digits));
const blob = (hash) => `/api/blobs/${hash}`;
const short = (id) => (id || "").slice(-12);

function outcome(success) {
  if (success === true) return h("span", {class: "badge success"}, "success");
  if (success === false) return h("span", {class: "badge failed"}, "failed");
  return h("span", {class: "badge"}, "unknown");
}

function badge(text) {
  return text ? h("span", {class: `badge ${text}`}, text) : "";
}

function showError(error) {
  main.replaceChildren(h("p", {class: "error"}, error.message || String(error)));
}

// ------------------------------------------------------------------ routing

const routes = [
  [/^#\/(demo|run)\/([^?]+)$/, (m) => timelinePage(m[1], decodeURIComponent(m[2]))],
  [/^#\/train\/([^?]+)$/, (m) => trainRunPage(decodeURIComponent(m[1]))],
  [/^#\/train$/, () => trainListPage()],
  [/^#\/adapters$/, () => adaptersPage()],
  [/^#\/sql$/, () => sqlPage()],
  [/^#?\/?(\?.*)?$/, (m) => itemsPage(new URLSearchParams((m[1] || "").slice(1)))],
];

async function route() {
  const hash = location.hash || "#/";
  const section = hash.startsWith("#/train") ? "train" : hash.startsWith("#/adapters") ? "adapters"
    : hash.startsWith("#/sql") ? "sql" : "items";
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (match) {
      try {
        await page(match);
      } catch (error) {
        showError(error);
      }
      return;
    }
  }
  showError(new Error(`no page at ${hash}`));
}

let summary = null;

async function loadSummary() {
  summary = await api("/api/summary");
  document.getElementById("count-items").textContent = `${summary.demos} · ${summary.runs}`;
  document.getElementById("count-train").textContent = summary.train_runs;
  document.getElementById("count-adapters").textContent = summary.adapters;
}

// ------------------------------------------------------------------ demos and runs

async function itemsPage(params) {
  const offset = Number(params.get("offset") || 0);
  const query = new URLSearchParams(params);
  query.set("offset", offset);
  query.set("limit", PAGE_SIZE);
  const [page] = await Promise.all([api(`/api/items?${query}`), summary ? null : loadSummary()]);

  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === "" || value === null || value === 0) next.delete(key);
      else next.set(key, value);
    }
    location.hash = `#/?${next}`;
  };
  const select = (name, options) => h("select", {name, onchange: (e) => go({[name]: e.target.value, offset: 0})},
    options.map(([value, label]) => h("option", {value, selected: params.get(name) === value || null}, label)));
  const filters = h("form", {class: "filters", onsubmit: (e) => {
    e.preventDefault();
    go({q: e.target.elements.q.value.trim(), offset: 0});
  }},
  select("kind", [["", "demos and runs"], ["demo", "demos"], ["run", "runs"]]),
  select("task", [["", "all tasks"], ...summary.tasks.map((t) => [t.task, `${t.task} (${t.n})`])]),
  select("outcome", [["", "any outcome"], ["success", "success"], ["failed", "failed"], ["unknown", "unknown"]]),
  h("input", {name: "q", type: "search", placeholder: "search task, goal, id", value: params.get("q") || ""}),
  h("button", {type: "submit"}, "Search"));

  const rows = page.rows.map((row) => h("tr", {class: "item", "data-stream": row.stream,
    onclick: () => { location.hash = `#/${row.kind}/${encodeURIComponent(row.id)}`; }},
  h("td", {class: "thumb"}, row.thumbnail ? h("img", {src: blob(row.thumbnail), loading: "lazy", alt: ""}) : ""),
  h("td", {}, row.kind),
  h("td", {}, h("a", {href: `#/${row.kind}/${encodeURIComponent(row.id)}`}, row.task), h("br"),
    h("span", {class: "muted"}, short(row.id))),
  h("td", {}, row.goal),
  h("td", {}, when(row.started_at)),
  h("td", {}, row.steps),
  h("td", {}, outcome(row.success)),
  h("td", {}, badge(row.label)),
  h("td", {class: "muted"}, row.detail || "")));

  const last = Math.min(offset + page.rows.length, page.total);
  const pager = h("div", {class: "pager"},
    h("button", {disabled: offset === 0 || null, onclick: () => go({offset: Math.max(0, offset - PAGE_SIZE)})}, "‹ Prev"),
    h("span", {class: "range"}, page.total ? `${offset + 1}–${last} of ${page.total}` : "nothing matches"),
    h("button", {disabled: last >= page.total || null, onclick: () => go({offset: offset + PAGE_SIZE})}, "Next ›"));

  main.replaceChildren(h("h1", {}, "Demonstrations and runs"), filters, pager,
    h("table", {class: "items"},
      h("thead", {}, h("tr", {}, ["", "kind", "task", "goal", "started", "steps", "outcome", "feedback", ""]
        .map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)));
}

// ------------------------------------------------------------------ timeline

async function timelinePage(kind, id) {
  const data = await api(`/api/timeline/${kind}/${encodeURIComponent(id)}`);
  const replays = data.replays.map((r) => h("li", {},
    outcome(r.success), ` ${r.ok_steps} ok · ${r.healed_steps} healed · ${r.failed_steps} failed `,
    h("span", {class: "muted"}, `${when(r.started_at)} ${r.reason || ""}`)));
  main.replaceChildren(
    h("h1", {}, `${kind === "demo" ? "Demo" : "Run"} · ${data.task} `, outcome(data.success)),
    h("p", {}, data.goal),
    h("p", {class: "muted"}, `${data.stream} · ${when(data.started_at)} · ${data.steps} steps · ${data.detail || ""}`),
    h("div", {class: "card"}, h("strong", {}, `Whole ${kind}: `), feedbackControls(data.stream, null, data.feedback)),
    replays.length ? h("div", {}, h("h2", {}, "Replays"), h("ul", {}, replays)) : "",
    h("h2", {}, "Steps"),
    h("div", {class: "steps"}, data.timeline.map((step) => stepCard(data.stream, step))));
}

function stepCard(stream, step) {
  const bbox = step.element && step.element.bbox;
  const overlay = s("svg", {preserveAspectRatio: "none", "aria-hidden": "true"});
  if (bbox) {
    overlay.append(s("rect", {class: "bbox", x: bbox.x, y: bbox.y, width: bbox.width, height: bbox.height,
      "data-bbox": [bbox.x, bbox.y, bbox.width, bbox.height].join(",")}));
  }
  const image = step.screenshot ? h("img", {src: blob(step.screenshot), loading: "lazy", alt: `step ${step.step}`,
    "data-hash": step.screenshot}) : h("p", {class: "muted"}, "no screenshot");
  if (step.screenshot) {
    // Boxes are in CSS pixels of the recorded viewport, which is the screenshot's own size.
    image.addEventListener("load", () => {
      overlay.setAttribute("viewBox", `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
      image.closest(".shot").classList.add("loaded");
    });
  }
  const action = step.kind ? `${step.kind}${step.target ? ` [${step.target}]` : ""}${step.value ? ` "${step.value}"` : ""}`
    : "(no action)";
  const element = step.element ? `${step.element.tag || ""} ${step.element.role ? `(${step.element.role})` : ""} ${step.element.name || ""}` : "";
  const replay = step.replay;
  const enrichment = step.enrichment;
  const rows = [
    ["action", h("code", {class: "action"}, action)],
    step.source ? ["source", badge(step.source)] : null,
    ["element", element],
    ["locator", step.locator ? h("code", {class: "locator"}, `${step.locator[0]}: ${step.locator[1]}`) : "–"],
    ["page", h("span", {}, step.title || "", h("br"), h("span", {class: "muted"}, step.url || ""))],
    step.outcome ? ["outcome", h("span", {}, badge(step.outcome), " ", step.parse_method || "", step.error ? ` — ${step.error}` : "")] : null,
    step.guards && step.guards.length ? ["guards", step.guards.join("; ")] : null,
    step.raw_output ? ["model said", h("pre", {}, step.raw_output)] : null,
    replay ? ["replay", h("span", {class: "replay"}, badge(replay.status), ` ${replay.strategy}${replay.locator ? `: ${replay.locator}` : ""}`,
      replay.reason ? ` — ${replay.reason}` : "")] : null,
    enrichment ? ["enrichment", h("div", {class: "enrichment"},
      h("div", {}, enrichment.explanation), h("div", {class: "muted"}, `Element: ${enrichment.element_rationale}`),
      h("div", {class: "muted"}, `Expected: ${enrichment.expected_outcome}`),
      enrichment.thinking_steps && enrichment.thinking_steps.length
        ? h("ol", {}, enrichment.thinking_steps.map((t) => h("li", {}, t))) : "",
      h("div", {class: "muted"}, `by ${enrichment.model}`))]
      : stream.startsWith("demo/") ? ["enrichment", h("span", {class: "muted"}, "none (raw action)")] : null,
  ].filter(Boolean);
  return h("article", {class: "step card", "data-step": step.step},
    h("div", {class: "shot"}, image, overlay),
    h("div", {class: "details"}, h("h2", {}, `Step ${step.step}`),
      h("dl", {}, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
      feedbackControls(stream, step.step, step.feedback)));
}

function feedbackControls(target, step, current) {
  const status = h("span", {class: "fb-label"}, current ? badge(current.label) : "");
  const note = current && current.correction ? h("code", {class: "muted"}, JSON.stringify(current.correction)) : "";
  const correction = h("input", {class: "correction", placeholder: 'correction, e.g. {"kind": "CLICK", "target": "12"}'});
  const problem = h("span", {class: "error-inline", style: "color: var(--bad)"});
  const buttons = {};
  const send = async (label, withCorrection) => {
    problem.textContent = "";
    const body = {target, label, step};
    if (withCorrection) {
      try {
        body.correction = JSON.parse(correction.value);
      } catch (error) {
        problem.textContent = `the correction is not JSON: ${error.message}`;
        return;
      }
    }
    try {
      await api("/api/feedback", body);
    } catch (error) {
      problem.textContent = error.message;
      return;
    }
    status.replaceChildren(badge(label));
    for (const [name, button] of Object.entries(buttons)) button.classList.toggle("chosen", name === label);
    summary = null;
  };
  buttons.good = h("button", {class: `good${current && current.label === "good" ? " chosen" : ""}`, onclick: () => send("good")}, "good");
  buttons.bad = h("button", {class: `bad${current && current.label === "bad" ? " chosen" : ""}`, onclick: () => send("bad")}, "bad");
  const correct = step === null ? "" : [correction, h("button", {class: "correct", onclick: () => send("bad", true)}, "bad + correction")];
  return h("div", {class: "feedback", "data-target": target, "data-step": step === null ? "" : step},
    buttons.good, buttons.bad, correct, status, note, problem);
}

// ------------------------------------------------------------------ training

async function trainListPage() {
  const runs = await api("/api/train");
  main.replaceChildren(h("h1", {}, "Training runs"), runs.length ? h("table", {},
    h("thead", {}, h("tr", {}, ["job", "objective", "base model", "status", "steps", "last loss", "last KL", "adapter", "started"]
      .map((c) => h("th", {}, c)))),
    h("tbody", {}, runs.map((r) => h("tr", {class: "item", onclick: () => { location.hash = `#/train/${r.job_id}`; }},
      h("td", {}, h("a", {href: `#/train/${r.job_id}`}, short(r.job_id))), h("td", {}, r.objective),
      h("td", {class: "muted"}, r.base_model), h("td", {}, badge(r.status)), h("td", {}, r.steps),
      h("td", {}, num(r.last_loss)), h("td", {}, num(r.last_kl)), h("td", {}, r.adapter || ""),
      h("td", {}, when(r.started_at)))))) : h("p", {class: "muted"}, "No training runs yet (traj train)."));
}

async function trainRunPage(jobId) {
  const run = await api(`/api/train/${encodeURIComponent(jobId)}`);
  const series = (key) => run.metrics.filter((m) => m[key] !== null).map((m) => ({x: m.step, y: m[key]}));
  const diagnosis = run.diagnosis;
  const dataset = run.dataset || {};
  main.replaceChildren(
    h("h1", {}, `Training run ${short(run.job_id)} `, badge(run.status)),
    h("p", {class: "muted"}, `${run.objective} on ${run.base_model} · ${run.steps} steps · ${when(run.started_at)}`,
      run.adapter ? [" · adapter ", h("a", {href: "#/adapters"}, run.adapter)] : ""),
    run.error ? h("p", {class: "error"}, run.error) : "",
    diagnosis ? h("div", {class: diagnosis.near_zero ? "warning diagnosis" : "card diagnosis"},
      h("strong", {}, `Step-0 KL ${num(diagnosis.kl)}: `),
      diagnosis.near_zero ? "near zero, the teacher barely differs from the student. Likely causes:"
        : "the demonstration-conditioned teacher differs from the student, so there is something to learn.",
      diagnosis.causes.length ? h("ul", {}, diagnosis.causes.map((c) => h("li", {}, c))) : "",
      h("div", {class: "muted"}, `${Math.round(diagnosis.enriched_share * 100)}% of the steps enriched · EMA alpha ${diagnosis.ema_alpha}`
        + (diagnosis.teacher_accuracy === null || diagnosis.teacher_accuracy === undefined ? ""
          : ` · next action right: teacher ${Math.round(diagnosis.teacher_accuracy * 100)}%, student ${Math.round(diagnosis.student_accuracy * 100)}%`
            + (diagnosis.accuracy_on === "other_instances" ? ` on ${diagnosis.accuracy_steps} of other instances' states`
              : diagnosis.accuracy_on === "own_states" ? " on the demonstration's own states" : ""))))
      : h("p", {class: "muted"}, "No step-0 KL logged (SFT, or no step yet)."),
    h("div", {class: "charts"},
      lineChart("KL", series("kl"), "kl"), lineChart("loss", series("loss"), "loss"),
      lineChart("tokens/s", series("tokens_per_s"), "tokens_per_s"),
      series("margin").length ? lineChart("DPO reward margin", series("margin"), "margin") : ""),
    h("div", {class: "grid2"},
      h("div", {}, h("h2", {}, "Config"), keyValues(run.config || {})),
      h("div", {}, h("h2", {}, "Dataset snapshot"), keyValues({
        view: dataset.view, "as of position": dataset.as_of_position,
        examples: (dataset.event_ids || []).length,
      }), h("ul", {}, (dataset.demo_ids || []).map((d) => h("li", {}, h("a", {href: `#/demo/${d}`}, `demo ${short(d)}`)))))));
}

function keyValues(object) {
  return h("table", {class: "kv"}, h("tbody", {}, Object.entries(object).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))))));
}

function lineChart(title, points, key) {
  const width = 420, height = 220, left = 56, right = 12, top = 24, bottom = 30;
  const chart = s("svg", {viewBox: `0 0 ${width} ${height}`, class: `chart-svg`, "data-series": key});
  chart.append(s("text", {x: left, y: 14, style: "font-weight: 600; fill: #1d2330"}, title));
  if (!points.length) {
    chart.append(s("text", {x: left, y: height / 2}, "not logged"));
    return h("div", {class: "chart card"}, chart);
  }
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const px = (x) => left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - left - right);
  const py = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  chart.append(
    s("line", {class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom}),
    s("line", {class: "axis", x1: left, y1: top, x2: left, y2: height - bottom}),
    s("text", {x: left - 4, y: top + 4, "text-anchor": "end"}, num(y1, 3)),
    s("text", {x: left - 4, y: height - bottom, "text-anchor": "end"}, num(y0, 3)),
    s("text", {x: left, y: height - 10}, `step ${x0}`),
    s("text", {x: width - right, y: height - 10, "text-anchor": "end"}, `step ${x1}`),
    s("polyline", {class: "line", points: points.map((p) => `${px(p.x)},${py(p.y)}`).join(" ")}),
    ...points.map((p) => s("circle", {class: "pt", cx: px(p.x), cy: py(p.y), r: 3.5, "data-step": p.x, "data-value": p.y},
      s("title", {}, `step ${p.x}: ${p.y}`))));
  return h("div", {class: "chart card"}, chart);
}

// ------------------------------------------------------------------ adapters and lineage

async function adaptersPage() {
  const data = await api("/api/adapters");
  const table = data.adapters.length ? h("table", {class: "adapters"},
    h("thead", {}, h("tr", {}, ["adapter", "formats", "base model", "training run", "parent", "loaded in", "roll back to"]
      .map((c) => h("th", {}, c)))),
    h("tbody", {}, data.adapters.map((a) => h("tr", {"data-adapter": a.name},
      h("td", {}, h("strong", {}, a.name), h("br"), h("span", {class: "muted"}, when(a.created_at))),
      h("td", {}, a.formats.join(", ")), h("td", {class: "muted"}, a.base_model),
      h("td", {}, h("a", {href: `#/train/${a.job_id}`}, short(a.job_id))),
      h("td", {}, a.parent || "–"),
      h("td", {}, a.loaded_in.length ? a.loaded_in.map((b) => badge(b)) : h("span", {class: "muted"}, "not loaded")),
      h("td", {}, rollback(a)))))) : h("p", {class: "muted"}, "No adapters yet (traj train).");
  main.replaceChildren(h("h1", {}, "Adapters"), table, h("h2", {}, "Lineage"),
    h("p", {class: "muted"}, "adapter → training run → dataset snapshot → demonstrations"),
    lineageGraph(data));
}

function rollback(adapter) {
  const target = adapter.rollback_to;
  if (!target) return h("div", {class: "muted"}, "nothing earlier (the base model)");
  const command = `traj adapters rollback ${adapter.name}`;
  return h("div", {}, target, h("br"), h("code", {class: "muted", title: "returns every task this adapter serves to its parent, as an event"}, command));
}

function lineageGraph(data) {
  const rows = data.lineage;
  if (!rows.length) return h("p", {class: "muted"}, "No lineage recorded yet.");
  const loaded = new Set(data.adapters.filter((a) => a.loaded_in.length).map((a) => a.name));
  const columns = [20, 230, 440, 690];
  const boxW = 180, boxH = 34, gap = 14;
  const nodes = new Map();
  const edges = [];
  const place = (id, column, label, cls) => {
    if (!nodes.has(id)) {
      const index = [...nodes.values()].filter((n) => n.column === column).length;
      nodes.set(id, {id, column, label, cls, y: 40 + index * (boxH + gap)});
    }
    return id;
  };
  for (const row of rows) {
    const adapter = place(`a:${row.adapter}`, 0, row.adapter, `adapter${loaded.has(row.adapter) ? " loaded" : ""}`);
    const job = place(`j:${row.job_id}`, 1, `${row.objective} ${short(row.job_id)}`, "job");
    const dataset = place(`d:${row.job_id}`, 2, `${row.dataset_view} @${row.as_of_position} (${row.events})`, "dataset");
    edges.push([adapter, job], [job, dataset]);
    for (const demo of row.demos || []) edges.push([dataset, place(`m:${demo}`, 3, `demo ${short(demo)}`, "demo")]);
  }
  const height = Math.max(...[...nodes.values()].map((n) => n.y)) + boxH + 20;
  const graph = s("svg", {viewBox: `0 0 ${columns[3] + boxW + 20} ${height}`, width: columns[3] + boxW + 20, height});
  ["adapter", "training run", "dataset snapshot", "demos"].forEach((t, i) =>
    graph.append(s("text", {class: "col-title", x: columns[i], y: 22}, t)));
  for (const [from, to] of edges) {
    const a = nodes.get(from), b = nodes.get(to);
    graph.append(s("path", {class: "edge", d: `M${columns[a.column] + boxW},${a.y + boxH / 2} C${columns[a.column] + boxW + 20},${a.y + boxH / 2} ${columns[b.column] - 20},${b.y + boxH / 2} ${columns[b.column]},${b.y + boxH / 2}`}));
  }
  for (const node of nodes.values()) {
    const link = node.id.startsWith("m:") ? `#/demo/${node.id.slice(2)}` : node.id.startsWith("j:") ? `#/train/${node.id.slice(2)}` : null;
    const group = s("g", {class: `node ${node.cls}`, "data-node": node.id},
      s("rect", {x: columns[node.column], y: node.y, width: boxW, height: boxH}),
      s("text", {x: columns[node.column] + 8, y: node.y + 21}, node.label.length > 26 ? `${node.label.slice(0, 25)}…` : node.label),
      s("title", {}, node.id.slice(2)));
    graph.append(link ? s("a", {href: link}, group) : group);
  }
  return h("div", {class: "lineage"}, graph);
}

// ------------------------------------------------------------------ SQL

let lastSql = "SELECT task, count(*) AS demos, avg(steps) AS avg_steps FROM demos GROUP BY task ORDER BY demos DESC";

async function sqlPage() {
  const views = await api("/api/views");
  const box = h("textarea", {id: "sql", spellcheck: "false"}, lastSql);
  const result = h("div", {class: "result"});
  const run = async () => {
    lastSql = box.value;
    result.replaceChildren(h("p", {class: "muted"}, "Running…"));
    try {
      const answer = await api("/api/sql", {sql: box.value});
      const more = answer.total > answer.rows.length ? ` (showing ${answer.rows.length})` : "";
      result.replaceChildren(h("p", {class: "muted row-count"}, `${answer.total} row${answer.total === 1 ? "" : "s"}${more}`),
        h("table", {class: "sql-result"},
          h("thead", {}, h("tr", {}, answer.columns.map((c) => h("th", {}, c)))),
          h("tbody", {}, answer.rows.map((row) => h("tr", {}, answer.columns.map((c) => h("td", {}, cell(row[c]))))))));
    } catch (error) {
      result.replaceChildren(h("p", {class: "error sql-error"}, error.message));
    }
  };
  box.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
  main.replaceChildren(h("h1", {}, "SQL over the projections"),
    h("p", {class: "muted"}, "One read-only SELECT (Ctrl+Enter runs it). Views:"),
    h("div", {class: "views"}, Object.entries(views).map(([name, about]) => h("button", {title: about,
      onclick: () => { box.value = `SELECT * FROM ${name} LIMIT 50`; run(); }}, name))),
    box, h("div", {}, h("button", {id: "run-sql", onclick: run}, "Run")), result);
}

function cell(value) {
  if (value === null || value === undefined) return h("span", {class: "muted"}, "null");
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

window.addEventListener("hashchange", route);
route();
