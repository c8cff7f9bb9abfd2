/* archcalc interactive sweep report: summary, plotly plots, a sortable and filterable paged
 * table, refused pairs. Reads the JSON in #report-data; fetches nothing. Written by
 * archcalc.report.html; the numbers it shows are computed in Python
 * (archcalc.report.page_data), this script only lays them out, sorts and filters. */
"use strict";
(function () {
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const cols = data.columns;
  const col = Object.fromEntries(cols.map((c, i) => [c.key, i]));
  const rows = data.rows;
  const text = data.text;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
  const fmt = (n) => Number(n).toLocaleString("en-US");
  const state = {order: rows.map((_, i) => i), shown: [], sortKey: null, sortDir: 1, page: 0,
    pageSize: 100, text: "", where: !!data.where, ranges: {}};
  window.archcalcReport = {state, timings: {}};

  /* ---------- summary ---------- */
  function summary() {
    const s = data.summary;
    const cards = [
      [fmt(s.models), "models"], [s.sizes.length, "input sizes"], [fmt(s.ok), "pairs ok"],
      [fmt(s.errors), `pairs refused (${s.error_models} models)`, s.errors > 0]];
    $("summary-cards").innerHTML = cards.map(([v, l, bad]) =>
      `<div class="card${bad ? " bad" : ""}"><b>${esc(v)}</b><span>${esc(l)}</span></div>`).join("");
    const details = [["sweep files", s.files.join(", ")], ["input sizes", s.sizes.join(", ")],
      ["MAC convention", s.conventions.join("; ") || "-"],
      ["environment", s.environments.join("; ") || "not recorded"], ["latency", s.latency]];
    $("summary-details").innerHTML = details.map(([k, v]) =>
      `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
    $("unit-notes").innerHTML = data.units.map((u) => `<li>${esc(u)}</li>`).join("");
  }

  /* ---------- filters ---------- */
  function buildFilters() {
    $("ranges").innerHTML = data.ranges.map((r) =>
      `<label class="range">${esc(r.label)}<span>` +
      `<input type="number" step="any" data-key="${r.key}" data-end="0" placeholder="min" aria-label="${esc(r.label)} min">` +
      `&ndash;<input type="number" step="any" data-key="${r.key}" data-end="1" placeholder="max" aria-label="${esc(r.label)} max"></span></label>`
    ).join("");
    for (const r of data.ranges) {
      state.ranges[r.key] = [r.start[0], r.start[1]];
      for (const end of [0, 1]) {
        const box = document.querySelector(`input[data-key="${r.key}"][data-end="${end}"]`);
        if (r.start[end] !== null) box.value = r.start[end];
      }
    }
    if (data.where) {
      $("where-box").hidden = false;
      $("where-text").textContent = data.where.text;
    }
    let timer = null;
    const later = (fn) => { clearTimeout(timer); timer = setTimeout(fn, 120); };
    $("filter-text").addEventListener("input", (e) => { state.text = e.target.value; later(refilter); });
    $("ranges").addEventListener("input", (e) => {
      const box = e.target, v = box.value.trim() === "" ? null : Number(box.value);
      state.ranges[box.dataset.key][Number(box.dataset.end)] = Number.isFinite(v) ? v : null;
      later(refilter);
    });
    $("filter-where").addEventListener("change", (e) => { state.where = e.target.checked; refilter(); });
    $("reset").addEventListener("click", () => {
      $("filter-text").value = ""; state.text = "";
      for (const box of $("ranges").querySelectorAll("input")) box.value = "";
      for (const k in state.ranges) state.ranges[k] = [null, null];
      if (data.where) { $("filter-where").checked = false; state.where = false; }
      refilter();
    });
  }

  function matcher() {
    const terms = state.text.toLowerCase().split(/[\s,]+/).filter(Boolean);
    const m = col.model, f = col.family;
    const ranges = Object.entries(state.ranges).filter(([, b]) => b[0] !== null || b[1] !== null)
      .map(([k, b]) => [col[k], b[0], b[1]]);
    const where = state.where && data.where ? data.where.match : null;
    return (i) => {
      const r = rows[i];
      if (where && !where[i]) return false;
      if (terms.length && !terms.some((t) => t[0] === "=" ? r[m] === t.slice(1) :
        r[m].toLowerCase().includes(t) || String(r[f]).toLowerCase().includes(t))) return false;
      for (const [c, lo, hi] of ranges) {
        const v = r[c];
        if (v === null || (lo !== null && v < lo) || (hi !== null && v > hi)) return false;
      }
      return true;
    };
  }

  function refilter() {
    const keep = matcher();
    state.shown = state.order.filter(keep);
    state.page = 0;
    render();
  }

  /* ---------- sorting ---------- */
  function sortBy(key) {
    const t = performance.now();
    state.sortDir = state.sortKey === key ? -state.sortDir : (cols[col[key]].numeric ? -1 : 1);
    if (key === "model" || key === "family") state.sortDir = state.sortKey === key ? state.sortDir : 1;
    state.sortKey = key;
    const c = col[key], dir = state.sortDir;
    const cmp = (a, b) => {
      const x = rows[a][c], y = rows[b][c];
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    };
    state.order.sort(cmp);
    state.shown.sort(cmp);
    state.page = 0;
    render();
    window.archcalcReport.timings.lastSortMs = performance.now() - t;
  }

  /* ---------- table ---------- */
  function buildHead() {
    $("head").innerHTML = cols.map((c) =>
      `<th data-key="${c.key}" class="${c.numeric ? "num" : ""}" title="sort by ${esc(c.label)}">${esc(c.label)}</th>`
    ).join("");
    $("head").addEventListener("click", (e) => {
      const th = e.target.closest("th");
      if (th) sortBy(th.dataset.key);
    });
  }

  function render() {
    const n = state.shown.length, size = state.pageSize;
    const pages = Math.max(1, Math.ceil(n / size));
    state.page = Math.min(state.page, pages - 1);
    const from = state.page * size, to = Math.min(n, from + size);
    const [lo, hi] = data.plots.window;
    const kc = col.k;
    const html = [];
    for (let j = from; j < to; j++) {
      const i = state.shown[j], r = rows[i], tr = text[i];
      html.push(`<tr data-row="${i}">` + cols.map((c, ci) => {
        let cls = c.numeric ? "num" : "";
        if (ci === kc && r[ci] !== null && r[ci] >= lo && r[ci] <= hi) cls += " k-in";
        if (c.key === "reason") cls += " reason";
        return `<td class="${cls}">${esc(tr[ci])}</td>`;
      }).join("") + "</tr>");
    }
    $("rows").innerHTML = html.join("");
    $("count").textContent = `${fmt(n)} of ${fmt(rows.length)} rows match` +
      (n ? `; showing ${fmt(from + 1)}-${fmt(to)}` : "");
    $("page").textContent = `page ${state.page + 1} of ${pages}`;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    for (const th of $("head").children)
      th.setAttribute("aria-sort", th.dataset.key === state.sortKey ? (state.sortDir > 0 ? "ascending" : "descending") : "none");
  }

  function buildPager() {
    $("prev").addEventListener("click", () => { state.page--; render(); });
    $("next").addEventListener("click", () => { state.page++; render(); });
    $("page-size").addEventListener("change", (e) => { state.pageSize = Number(e.target.value); state.page = 0; render(); });
  }

  /* ---------- CSV ---------- */
  /* A text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
   * quote, as archcalc.display.csv_cell does; numbers, numeric texts and "-" stay as they are. */
  const inert = (v) => typeof v !== "string" || v === "-" || !/^[=+\-@\t\r]/.test(v) ||
    (v.trim() !== "" && Number.isFinite(Number(v))) ? v : `'${v}`;
  function csv() {
    const quote = (s) => /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    const cell = (v) => v === null ? "" : quote(String(inert(v)));
    const lines = [cols.map((c) => c.key).join(",")];
    for (const i of state.shown) lines.push(rows[i].map(cell).join(","));
    return lines.join("\n") + "\n";
  }

  function buildCsv() {
    $("download-csv").addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([csv()], {type: "text/csv"}));
      const a = document.createElement("a");
      a.href = url; a.download = "archcalc-report-rows.csv";
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });
    $("copy-csv").addEventListener("click", async () => {
      const body = csv();
      let done = false;
      try { await navigator.clipboard.writeText(body); done = true; } catch (e) { done = false; }
      if (!done) {
        const area = document.createElement("textarea");
        area.value = body; document.body.appendChild(area); area.select();
        done = document.execCommand("copy"); area.remove();
      }
      $("copied").textContent = done ? `copied ${fmt(state.shown.length)} rows as CSV` : "copy refused by the browser: use Download CSV";
    });
  }

  /* ---------- errors ---------- */
  function errors() {
    const groups = data.errors;
    const total = groups.reduce((s, g) => s + g.count, 0);
    $("errors-title").textContent = total ? `Refused pairs (${fmt(total)}), by reason` : "Refused pairs: none";
    const about = (g) => {
      const sizes = [...new Set(g.members.map((m) => m[1]))].sort((a, b) => parseInt(a) - parseInt(b));
      const models = [...new Set(g.members.map((m) => m[0]))];
      return `at ${sizes.join(", ")}: ${models.slice(0, 3).join(", ")}` +
        (models.length > 3 ? ` and ${models.length - 3} more` : "");
    };
    $("error-groups").innerHTML = groups.map((g) =>
      `<details><summary><b>${g.count}</b> ${esc(g.type)} (${esc(g.kind)}): <code>${esc(g.reason)}</code>` +
      `<br><span class="note">${esc(about(g))}</span></summary>` +
      `<div class="body"><table><thead><tr><th>model</th><th>input</th><th>nearest valid (profiler)</th>` +
      `<th>ran in this sweep at (nearest first)</th></tr></thead><tbody>` +
      g.members.map((m) => `<tr>${m.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`).join("") +
      `</tbody></table></div></details>`).join("");
  }

  function pngs() {
    if (!data.pngs.length) return;
    $("pngs").hidden = false;
    $("png-list").innerHTML = data.pngs.map(([c, p]) => `<li><a href="${esc(p)}">${esc(c)}</a></li>`).join("");
  }

  /* ---------- plots ---------- */
  const config = {displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
  const layout = (extra) => Object.assign({margin: {l: 62, r: 14, t: 14, b: 46},
    hovermode: "closest", font: {size: 12}, legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom"},
    plot_bgcolor: "#fff"}, extra);
  const axis = (title, extra) => Object.assign({title: {text: title}, gridcolor: "#e6e9ef",
    zeroline: false, automargin: true}, extra);
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function draw(id, traces, plotLayout) {
    $(id).innerHTML = "";  // the "drawing" placeholder
    Plotly.newPlot(id, traces, plotLayout, config);
  }

  function empty(id, message) {
    $(id).innerHTML = `<div class="empty">${esc(message)}</div>`;
  }

  function pick(filter) {
    const out = [];
    for (let i = 0; i < rows.length; i++) if (filter(rows[i])) out.push(i);
    return out;
  }

  /* top-1 against a cost at the front size; the front (model names, cheapest first) in red */
  function frontPlot(id, xKey, xLabel, front) {
    const res = data.plots.res, c = col;
    const pts = pick((r) => r[c.res] === res && r[c[xKey]] !== null && r[c[xKey]] > 0 && r[c.top1] !== null);
    if (!pts.length) return false;
    const on = new Set(front);
    const hover = (i) => `<b>${esc(rows[i][c.model])}</b><br>${esc(xLabel)}: ${text[i][c[xKey]]}` +
      `<br>top-1: ${text[i][c.top1]} %<br>params: ${text[i][c.params_m]} M, GMACs: ${text[i][c.gmacs]}` +
      `<br>k x k: ${text[i][c.k]}`;
    const trace = (ids, extra) => Object.assign({x: ids.map((i) => rows[i][c[xKey]]),
      y: ids.map((i) => rows[i][c.top1]), text: ids.map(hover), customdata: ids.map((i) => rows[i][c.model]),
      hovertemplate: "%{text}<extra></extra>", type: "scatter"}, extra);
    const byModel = new Map(pts.map((i) => [rows[i][c.model], i]));
    const frontIds = front.map((m) => byModel.get(m)).filter((i) => i !== undefined);
    draw(id, [
      trace(pts.filter((i) => !on.has(rows[i][c.model])), {mode: "markers", name: `${fmt(pts.length)} models at ${res} px`,
        marker: {size: 6, color: "rgba(70,110,170,0.45)"}}),
      trace(frontIds, {mode: "lines+markers", name: `accuracy-cost front (${frontIds.length} models)`,
        line: {color: "#c0392b", width: 2}, marker: {size: 7, color: "#c0392b"}}),
    ], layout({xaxis: axis(`${xLabel} at ${res} px (log scale)`, {type: "log"}),
      yaxis: axis("ImageNet-1k top-1 (%), published")}));
    return true;
  }

  function accuracyPlot() {
    const res = data.plots.res;
    $("title-accuracy").textContent = `Published top-1 against GMACs at ${res} px (upper left is better)`;
    if (!frontPlot("plot-accuracy", "gmacs", "GMACs", data.plots.front))
      empty("plot-accuracy", "No model of this sweep is in the published accuracy table at this size.");
    $("cap-accuracy").textContent = "Red: the accuracy-cost front (no other model is both cheaper and more " +
      "accurate). top-1 is published at the weights' own evaluation size.";
  }

  function latencyPlot() {
    const lat = data.plots.latency, res = data.plots.res;
    if (lat) {
      $("title-latency").textContent = `Published top-1 against ${lat.measured ? "measured" : "PREDICTED"} latency at ${res} px`;
      if (!frontPlot("plot-latency", lat.key, lat.label, lat.front)) empty("plot-latency", "No row has both latency and top-1.");
      $("cap-latency").textContent = lat.measured ? "Latency measured at batch 1 (median of timed runs)."
        : "Latency PREDICTED for the prediction's target device, not measured.";
      return;
    }
    $("title-latency").textContent = `No latency in this sweep: top-1 against params at ${res} px instead`;
    if (!frontPlot("plot-latency", "params_m", "params (M)", data.plots.params_front))
      empty("plot-latency", "No model of this sweep is in the published accuracy table at this size.");
    $("cap-latency").textContent = "Sweep with --latency for measured latency, or add a latency prediction: " +
      "this plot then shows top-1 against latency (measured, else predicted, labelled).";
  }

  function kPlot() {
    const b = data.plots.bubbles;
    $("title-k").textContent = "Final k x k map at each input size (bubble area = models)";
    if (!b.length) { empty("plot-k", "No ok pair."); return; }
    const [lo, hi] = data.plots.window;
    const maxN = Math.max(...b.map((x) => x.count));
    const sizes = [...new Set(b.map((x) => x.size))];
    const hover = (x) => `<b>${x.size} input, ${x.map} map</b>: ${fmt(x.count)} model${x.count > 1 ? "s" : ""}<br>` +
      x.models.map(esc).join("<br>") + (x.count > x.models.length ? `<br>and ${fmt(x.count - x.models.length)} more` : "");
    const ks = b.map((x) => x.k);
    const top = Math.max(...ks), bottom = Math.min(...ks);
    draw("plot-k", [{type: "scatter", mode: "markers+text", x: b.map((x) => x.size), y: ks,
      text: b.map((x) => x.count >= maxN / 8 ? fmt(x.count) : ""), textfont: {size: 10},
      hovertext: b.map(hover), hovertemplate: "%{hovertext}<extra></extra>", customdata: ks,
      marker: {size: b.map((x) => 5 + 45 * Math.sqrt(x.count / maxN)), sizemode: "diameter",
        color: b.map((x) => x.k >= lo && x.k <= hi ? "rgba(46,139,87,0.6)" : "rgba(192,57,43,0.45)"),
        line: {width: 1, color: "#fff"}}, name: "models"}],
    layout({showlegend: false,
      xaxis: axis("input size", {type: "category", categoryarray: sizes}),
      yaxis: axis("k (final map height, log scale)", {type: "log",
        range: [Math.log10(Math.max(0.7, bottom * 0.7)), Math.log10(top * 1.4)],
        tickvals: [1, 2, 3, 5, 7, 9, 14, 20, 28, 40, 56, 80, 112].filter((v) => v <= top * 1.4)}),
      shapes: [{type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0: lo, y1: hi,
        fillcolor: "rgba(46,139,87,0.12)", line: {width: 0}, layer: "below"}],
      annotations: [{xref: "paper", x: 0.005, xanchor: "left", yref: "y", y: Math.log10(hi), yanchor: "bottom",
        text: `k ${lo}..${hi}`, showarrow: false, font: {size: 11, color: "#2e8b57"}}]}));
    $("cap-k").textContent = `Green band and bubbles: k x k in the ${lo}..${hi} window (ImageNet nets mostly end ` +
      `at 7 x 7); red: outside it. Hover a bubble for its models; click one to filter the table to that k.`;
  }

  /* one faint line per model, the largest families' medians on top; buttons pick the cost */
  function costPlot() {
    const c = col, costs = data.plots.costs.filter((m) => m.key in c);
    $("title-cost").textContent = "Cost against input size";
    const byModel = new Map();
    for (let i = 0; i < rows.length; i++) {
      if (rows[i][c.gmacs] === null) continue;
      const m = rows[i][c.model];
      if (!byModel.has(m)) byModel.set(m, []);
      byModel.get(m).push(i);
    }
    if (!byModel.size) { empty("plot-cost", "No ok pair."); return; }
    for (const ids of byModel.values()) ids.sort((a, b) => rows[a][c.res] - rows[b][c.res]);
    const traces = [], groups = [];
    costs.forEach((cost, n) => {
      const x = [], y = [], t = [], k = c[cost.key];
      for (const ids of byModel.values()) {
        for (const i of ids) {
          if (rows[i][k] === null) continue;
          x.push(rows[i][c.res]); y.push(rows[i][k]);
          t.push(`<b>${esc(rows[i][c.model])}</b><br>input ${text[i][c.res]}: ${esc(cost.label)} ${text[i][k]}` +
            `<br>k x k ${text[i][c.k]}, params ${text[i][c.params_m]} M`);
        }
        x.push(null); y.push(null); t.push("");
      }
      const group = [traces.length];
      traces.push({type: "scatter", mode: "lines+markers", x, y, text: t, name: "each model", visible: n === 0,
        hovertemplate: "%{text}<extra></extra>", legendgroup: "all", showlegend: true,
        line: {width: 1, color: "rgba(70,110,170,0.10)"}, marker: {size: 3, color: "rgba(70,110,170,0.35)"}});
      cost.medians.forEach((f, j) => {
        group.push(traces.length);
        traces.push({type: "scatter", mode: "lines+markers", visible: n === 0, name: `${f.family} (${f.models})`,
          x: f.points.map((p) => p[0]), y: f.points.map((p) => p[1]),
          hovertemplate: `<b>${esc(f.family)}</b> median of ${f.models} models<br>input %{x}: ${esc(cost.label)} %{y:.3g}<extra></extra>`,
          line: {width: 2.5, color: PALETTE[j % PALETTE.length]}, marker: {size: 6}});
      });
      groups.push(group);
    });
    const heights = [...new Set(rows.map((r) => r[c.res]).filter((v) => v !== null))].sort((a, b) => a - b);
    const show = (n) => traces.map((_, m) => groups[n].includes(m));
    draw("plot-cost", traces, layout({
      legend: {orientation: "v", x: 1.02, xanchor: "left", y: 1, font: {size: 11}},
      margin: {l: 62, r: 10, t: 34, b: 46},
      xaxis: axis("input height (px, log scale)", {type: "log", tickvals: heights}),
      yaxis: axis(costs[0].label + " (log scale)", {type: "log"}),
      updatemenus: [{type: "buttons", direction: "right", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom",
        pad: {t: 0, b: 0, l: 0, r: 0}, showactive: true, font: {size: 11},
        buttons: costs.map((cost, n) => ({label: cost.label, method: "update",
          args: [{visible: show(n)}, {"yaxis.title.text": cost.label + " (log scale)"}]}))}],
    }));
    $("cap-cost").textContent = "Faint: each model across the swept sizes (hover for its numbers); coloured: the " +
      "median of the largest families. Buttons switch the cost; click a legend entry to hide it.";
  }

  function onClickModel(id) {
    const el = $(id);
    if (!el.on) return;
    el.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (!p) return;
      if (id === "plot-k") {
        setRange("k", p.customdata, p.customdata);
      } else {
        const m = id === "plot-cost" ? /^<b>(.*?)<\/b>/.exec(String(p.text)) : [null, p.customdata];
        if (!m || !m[1]) return;
        $("filter-text").value = "=" + m[1].replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
        state.text = $("filter-text").value;
      }
      refilter();
      $("results").scrollIntoView({behavior: "smooth"});
    });
  }

  function setRange(key, lo, hi) {
    if (!(key in state.ranges)) return;
    state.ranges[key] = [lo, hi];
    document.querySelector(`input[data-key="${key}"][data-end="0"]`).value = lo;
    document.querySelector(`input[data-key="${key}"][data-end="1"]`).value = hi;
  }

  /* plotly.js sits in a text/plain script so the table is drawn before plotly.js starts; each
   * plot is then drawn in a task of its own, so a click waits for one step at most */
  function loadPlotly() {
    const source = document.getElementById("plotly-js");
    if (typeof Plotly === "undefined" && source) {
      const s = document.createElement("script");
      s.textContent = source.textContent;
      document.head.appendChild(s);
      source.remove();
    }
    return typeof Plotly !== "undefined";
  }

  function plots(done) {
    const t = performance.now(), ids = ["plot-accuracy", "plot-latency", "plot-k", "plot-cost"];
    if (!loadPlotly()) {
      for (const id of ids) empty(id, "plotly.js did not load.");
      done();
      return;
    }
    window.archcalcReport.timings.plotlyMs = performance.now() - t;
    const steps = [accuracyPlot, latencyPlot, kPlot, costPlot];
    const next = (n) => setTimeout(() => {
      if (n < steps.length) { steps[n](); next(n + 1); return; }
      for (const id of ids) onClickModel(id);
      window.archcalcReport.timings.plotsMs = performance.now() - t;
      done();
    }, 0);
    next(0);
  }

  /* ---------- start ---------- */
  summary();
  buildFilters();
  buildHead();
  buildPager();
  buildCsv();
  refilter();
  errors();
  pngs();
  window.archcalcReport.timings.scriptStartMs = t0;
  window.archcalcReport.timings.tableMs = performance.now() - t0;
  window.archcalcReport.timings.tableReadyMs = performance.now();
  document.body.dataset.table = "ready";
  requestAnimationFrame(() => setTimeout(() => plots(() => {
    window.archcalcReport.timings.readyMs = performance.now();
    document.body.dataset.ready = "1";
  }), 0));
})();
