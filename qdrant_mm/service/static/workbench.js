// Live metrics of a labelled query set next to the sliders: the metrics of the current weights
// beside the saved profile's and each model alone (the numbers of `qdrant-mm evaluate`), the
// queries that got better or worse, the metric over the weight simplex, learned weights
// (`qdrant-mm tune`) and how far each weight can move before the shown query's top K reorders.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const CHANNELS = ["blip", "clip", "interrogator"];
  const GREEK = { blip: "α", clip: "β", interrogator: "γ" };
  const METRICS = [["p", "P@K"], ["r", "R@K"], ["ndcg", "nDCG@K"], ["mrr", "MRR"], ["map", "mAP@K"]];
  const CORNERS = CHANNELS.map((c) => [`${c} only`, Object.fromEntries(CHANNELS.map((d) => [d, d === c ? 1 : 0]))]);
  const wb = {
    loaded: false, generation: null, queries: new Map(), timer: null, sensTimer: null,
    seq: 0, sensSeq: 0, baseKey: null, base: null, gridKey: null, grid: null, pollTimer: null,
  };

  const mm = () => window.qdrantMM;
  const k = () => Number($("wb-k").value);
  const metricName = (m = $("wb-metric").value) => (m === "mrr" ? "mrr" : `${m}@${k()}`);
  const fmtW = (w) => CHANNELS.map((c) => Number(w[c]).toFixed(2)).join(" / ");
  const param = (w) => CHANNELS.map((c) => Number(w[c]).toFixed(6)).join(",");

  async function getJSON(url, options) {
    const resp = await fetch(url, options);
    const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) {
      const err = new Error(data.error || `HTTP ${resp.status}`);
      err.status = resp.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  function showError(text) {
    $("wb-error").textContent = text;
    $("wb-error").hidden = !text;
  }

  // --- the loaded set ------------------------------------------------------------------------
  async function loadSet() {
    clearTimeout(wb.pollTimer);
    let info;
    try {
      info = await getJSON("/evaluate/queries");
    } catch (err) {
      showError(`cannot read the labelled queries: ${err.message}`);
      return;
    }
    if (!info.loaded) {
      wb.loaded = false;
      $("wb-body").hidden = true;
      $("wb-source").textContent = info.pending ? `loading ${info.pending}…` : "none loaded";
      if (info.problem) showError(info.problem);
      if (info.pending) wb.pollTimer = setTimeout(loadSet, 1500);
      return;
    }
    wb.loaded = true;
    wb.generation = info.generation;
    wb.queries = new Map(info.queries.map((q) => [q.id, q]));
    $("wb-source").textContent = `${info.source} · ${info.queries.length} queries`;
    $("wb-body").hidden = false;
    showError("");
    refresh();
  }

  async function upload(file) {
    $("wb-source").textContent = `loading ${file.name}…`;
    try {
      const body = await file.text();
      await getJSON(`/evaluate/qrels?name=${encodeURIComponent(file.name)}`, {
        method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body,
      });
    } catch (err) {
      showError(err.message);
    }
    $("qrels-file").value = "";
    await loadSet();
  }

  // --- metrics -------------------------------------------------------------------------------
  function schedule() {
    if (!wb.loaded) return;
    clearTimeout(wb.timer);
    wb.timer = setTimeout(refresh, 60);
  }

  async function evaluateAt(w) {
    return getJSON(`/evaluate?weights=${param(w)}&k=${k()}`);
  }

  async function refresh() {
    if (!wb.loaded) return;
    const seq = ++wb.seq;
    const w = mm().weights();
    const saved = mm().savedWeights();
    const baseKey = JSON.stringify([k(), wb.generation, param(saved)]);
    const started = performance.now();
    let current;
    try {
      if (baseKey !== wb.baseKey) {
        const rows = [[saved.name ? `profile ${saved.name}` : "default", saved], ...CORNERS];
        const results = await Promise.all(rows.map(([, rw]) => evaluateAt(rw)));
        wb.base = rows.map(([label, rw], i) => ({ label, w: rw, data: results[i] }));
        wb.baseKey = baseKey;
      }
      current = await evaluateAt(w);
    } catch (err) {
      if (seq === wb.seq) showError(err.message);
      return;
    }
    if (seq !== wb.seq) return; // a newer refresh was sent meanwhile
    showError("");
    renderTable(current, param(w));
    renderChanges(current, wb.base[0].data);
    const rtt = Math.round(performance.now() - started);
    const how = Object.entries(current.ranked_by).map(([h, n]) => `${n} by ${h}`).join(", ");
    $("wb-took").textContent = `${current.took_ms.toFixed(0)} ms server, ${rtt} ms total · ${how}`;
    refreshGrid();
  }

  function renderTable(current, sent) {
    const rows = [{ label: "current", w: current.weights, data: current, current: true }, ...wb.base];
    const saved = wb.base[0].data.evaluation.metrics;
    const body = $("wb-table").tBodies[0];
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement("tr");
      if (row.current) tr.className = "current";
      if (row.current) {
        tr.id = "wb-current";
        tr.dataset.weights = sent; // what was asked for: evaluate --weights takes the same
      }
      const cells = [row.label, fmtW(row.w)].map((text) => {
        const td = document.createElement("td");
        td.textContent = text;
        return td;
      });
      for (const [m] of METRICS) {
        const name = metricName(m);
        const v = row.data.evaluation.metrics[name];
        const td = document.createElement("td");
        td.dataset.metric = name;
        td.dataset.value = String(v);
        td.textContent = Number.isFinite(v) ? v.toFixed(4) : "–";
        if (row.current && v !== saved[name]) td.className = v > saved[name] ? "better" : "worse";
        cells.push(td);
      }
      tr.append(...cells);
      return tr;
    }));
  }

  function renderChanges(current, saved) {
    const name = metricName();
    const now = current.evaluation.per_query;
    const before = saved.evaluation.per_query;
    const changed = Object.keys(now)
      .filter((q) => before[q] && now[q][name] !== before[q][name])
      .map((q) => ({ q, delta: now[q][name] - before[q][name] }))
      .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta));
    const list = $("wb-changes");
    const selected = mm().labelledQuery();
    if (!changed.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = `no query changed on ${name}`;
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...changed.slice(0, 50).map(({ q, delta }) => {
      const info = wb.queries.get(q) || { text: q };
      const li = document.createElement("li");
      li.dataset.qid = q;
      if (selected && selected.id === q) li.className = "selected";
      const arrow = document.createElement("span");
      arrow.className = delta > 0 ? "up" : "down";
      arrow.textContent = `${delta > 0 ? "▲ +" : "▼ "}${delta.toFixed(3)}`;
      li.append(arrow, ` ${name} · ${q} “${info.text}”`);
      li.addEventListener("click", () => mm().showLabelledQuery(q, info.text));
      return li;
    }));
  }

  // --- the simplex ---------------------------------------------------------------------------
  async function refreshGrid() {
    const name = metricName();
    const key = JSON.stringify([name, k(), wb.generation]);
    const svg = $("simplex");
    if (key !== wb.gridKey) {
      wb.gridKey = key;
      $("simplex-caption").textContent = `computing ${name} over the simplex…`;
      let data;
      try {
        data = await getJSON(`/evaluate/grid?metric=${encodeURIComponent(name)}&k=${k()}&step=0.05`);
      } catch (err) {
        wb.gridKey = null;
        $("simplex-caption").textContent = err.message;
        return;
      }
      if (key !== wb.gridKey) return;
      const drawn = window.qdrantTernary.draw(svg, data.points, data.step, name, (p) => mm().setWeights(p));
      $("simplex-caption").textContent =
        `${name} at every weighting of a 0.05 grid (${data.points.length}); ★ best ` +
        `(${drawn.best ? fmtW(drawn.best) : "–"}), ◯ current, ▢ saved profile. Click to try one.`;
    }
    window.qdrantTernary.mark(svg, "mark-saved", mm().savedWeights());
    window.qdrantTernary.mark(svg, "mark-current", mm().weights());
  }

  // --- learned weights -----------------------------------------------------------------------
  let lastTune = null;

  async function runTune() {
    $("tune-btn").disabled = true;
    $("tune-note").textContent = "learning on the train queries…";
    try {
      lastTune = await getJSON("/evaluate/tune", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ weights: mm().weights(), metric: metricName() }),
      });
      renderTune(lastTune);
    } catch (err) {
      $("tune-note").textContent = err.message;
    } finally {
      $("tune-btn").disabled = false;
    }
  }

  function renderTune(report) {
    const split = report.held_out_queries.length ? "held_out" : "train";
    $("tune-note").textContent =
      `${report.method}: ${report.train_queries.length} train, ` +
      `${report.held_out_queries.length} held-out queries`;
    const table = document.createElement("table");
    table.className = "metrics";
    table.innerHTML = `<thead><tr><th>weighting</th><th>α,β,γ</th><th></th></tr></thead>`;
    table.tHead.rows[0].cells[2].textContent = `${split.replace("_", "-")} ${report.metric}`;
    const body = table.createTBody();
    for (const r of report.results) {
      const tr = body.insertRow();
      tr.insertCell().textContent = r.label === "start" ? "current" : r.label === "tuned" ? "learned" : `${r.label} only`;
      tr.insertCell().textContent = fmtW(r.weights);
      const td = tr.insertCell();
      td.textContent = Number(r[split][report.metric]).toFixed(4);
      if (r.label === "tuned") tr.className = "current";
    }
    const use = document.createElement("button");
    use.type = "button";
    use.textContent = "Use the learned weights";
    use.addEventListener("click", () => mm().setWeights(report.weights));
    const save = document.createElement("button");
    save.type = "button";
    save.id = "tune-save";
    save.textContent = "Save as profile…";
    const note = document.createElement("span");
    note.className = "muted small";
    if (report.better_than_tuned.length) {
      save.disabled = true;
      note.textContent = ` not saved: ${report.better_than_tuned.join(", ")} scores better held out`;
    }
    save.addEventListener("click", () => {
      $("tune-weights").textContent = `${fmtW(report.weights)} (${report.method})`;
      $("tune-error").hidden = true;
      $("tune-dialog").showModal();
    });
    const row = document.createElement("div");
    row.className = "row";
    row.append(use, save, note);
    $("tune-out").replaceChildren(table, row);
    $("tune-out").hidden = false;
  }

  async function saveTuned(event) {
    event.preventDefault();
    const name = $("tune-name").value.trim();
    try {
      const saved = await getJSON("/evaluate/tune", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-Key": $("tune-key").value },
        body: JSON.stringify({ weights: lastTune.start, metric: lastTune.metric, save: name }),
      });
      $("tune-dialog").close();
      await mm().loadProfiles(saved.saved_as);
      $("tune-note").textContent = `saved as profile ${saved.saved_as}`;
    } catch (err) {
      $("tune-error").textContent = err.message;
      $("tune-error").hidden = false;
    }
  }

  // --- sensitivity ---------------------------------------------------------------------------
  function scheduleSensitivity(w, query) {
    clearTimeout(wb.sensTimer);
    wb.sensTimer = setTimeout(() => sensitivity(w, query), 120);
  }

  async function sensitivity(w, query) {
    const lines = CHANNELS.map((c) => $(`sens-${c}`));
    if (!query) {
      for (const line of lines) line.hidden = true;
      return;
    }
    const seq = ++wb.sensSeq;
    const params = new URLSearchParams({ weights: param(w), k: String(k()) });
    if (query.qid) params.set("qid", query.qid);
    else {
      params.set("q", query.q);
      if (query.filter) params.append("filter", query.filter);
      if ($("calibrate").checked) params.set("calibrate", "true");
    }
    let data;
    try {
      data = await getJSON(`/sensitivity?${params}`);
    } catch (err) {
      if (seq === wb.sensSeq) for (const line of lines) line.hidden = true;
      return;
    }
    if (seq !== wb.sensSeq) return;
    for (const iv of data.intervals) {
      const line = $(`sens-${iv.channel}`);
      const lo = `${iv.low_exact ? "" : "≤"}${iv.low.toFixed(3)}`;
      const hi = `${iv.high_exact ? "" : "≥"}${iv.high.toFixed(3)}`;
      line.textContent = `top-${data.k} order holds for ${GREEK[iv.channel]} ${lo} – ${hi}` +
        (data.certified ? "" : " (of the candidates)");
      const swap = (s) => (s ? `${s[0]} and ${s[1]} swap` : "a product outside the candidates may enter");
      line.title = `below ${iv.low.toFixed(4)}: ${iv.low > 0 ? swap(iv.low_swap) : "—"}; ` +
        `above ${iv.high.toFixed(4)}: ${iv.high < 1 ? swap(iv.high_swap) : "—"}`;
      line.dataset.low = String(iv.low);
      line.dataset.high = String(iv.high);
      line.hidden = false;
    }
  }

  // --- start-up ------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    const select = $("wb-metric");
    for (const [m, label] of METRICS) select.add(new Option(label, m));
    select.value = "ndcg";
    $("qrels-file").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
    $("wb-k").addEventListener("change", () => {
      refresh();
      scheduleSensitivity(mm().weights(), mm().query());
    });
    select.addEventListener("change", refresh);
    $("tune-btn").addEventListener("click", runTune);
    $("tune-form").addEventListener("submit", saveTuned);
    $("tune-cancel").addEventListener("click", () => $("tune-dialog").close());
    mm().onChange((w, query) => {
      schedule();
      scheduleSensitivity(w, query);
      if (wb.gridKey) {
        window.qdrantTernary.mark($("simplex"), "mark-current", w);
        window.qdrantTernary.mark($("simplex"), "mark-saved", mm().savedWeights());
      }
    });
    loadSet();
  });
})();
