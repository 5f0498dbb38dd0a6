// Installation page: one uPlot chart per sensor over the range the server aggregated.
// Hover shows the values (with a crosshair shared by every chart of the page); dragging zooms
// and Shift+dragging pans all charts together, and both fetch the new range from the store
// (downsampled there, so a chart never holds more than about 240 points); double-click goes
// back to the chosen range. Short ranges refresh themselves; the CSV links follow the range shown.
"use strict";

(function sensorCharts() {
  const grid = document.getElementById("sensor-charts");
  if (!grid || !window.uPlot) return;
  const { locale, tz } = grid.dataset;
  const chosen = grid.dataset.range;
  const chosenSpan = Number(grid.dataset.end) - Number(grid.dataset.start);
  // The x range on show (epoch seconds); zoomed once the user dragged away from the choice.
  const shown = { start: Number(grid.dataset.start), end: Number(grid.dataset.end), zoomed: false };
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
  const time = new Intl.DateTimeFormat(locale, { timeZone: tz, dateStyle: "short", timeStyle: "medium" });
  const clock = new Intl.DateTimeFormat(locale, { timeZone: tz, hour: "2-digit", minute: "2-digit" });
  const day = new Intl.DateTimeFormat(locale, { timeZone: tz, day: "numeric", month: "short" });
  const clockAndOffset = new Intl.DateTimeFormat(locale, { timeZone: tz, hour: "2-digit", minute: "2-digit", timeZoneName: "shortOffset" });
  const offsetOnly = new Intl.DateTimeFormat("en-GB", { timeZone: tz, timeZoneName: "shortOffset" });
  function offset(seconds) {
    return offsetOnly.formatToParts(new Date(seconds * 1000)).find((p) => p.type === "timeZoneName").value;
  }
  // The clocks changed within the shown range: the hour they went back reads twice without it.
  function clocksChange(u) { return offset(u.scales.x.min) !== offset(u.scales.x.max); }
  const charts = Array.from(grid.querySelectorAll(".sensor-chart"), (el) => ({ el, plot: null, limits: [] }));
  // "Refreshed every 10 s" is untrue while zoomed: the refresh waits for the chosen range.
  const refreshNote = document.getElementById("refresh-note");
  const refreshText = refreshNote && refreshNote.textContent;

  function iso(seconds) { return new Date(seconds * 1000).toISOString(); }

  function params(forCsv) {
    // An unzoomed relative range asks the server for "the last hour" so a refresh moves on.
    if (!forCsv && !shown.zoomed && chosen !== "custom") return new URLSearchParams({ range: chosen });
    return new URLSearchParams({ range: "custom", start: iso(shown.start), end: iso(shown.end) });
  }

  function columns(data, every) {
    // A gap much wider than the bucket width is missing data: a null lifts the pen there.
    const out = [[], [], [], []];
    data.t.forEach((t, i) => {
      if (i > 0 && t - data.t[i - 1] > 2 * every) {
        out[0].push((t + data.t[i - 1]) / 2); out[1].push(null); out[2].push(null); out[3].push(null);
      }
      out[0].push(t); out[1].push(data.mean[i]); out[2].push(data.min[i]); out[3].push(data.max[i]);
    });
    return out;
  }

  function yRange(chart) {
    return (u, lo, hi) => {
      if (lo == null || hi == null) return [0, 1];
      // Show an alarm limit only when it is near the data, or the line flattens to nothing.
      const near = chart.limits.filter((v) => v >= lo - (hi - lo + 1) && v <= hi + (hi - lo + 1));
      lo = Math.min(lo, ...near); hi = Math.max(hi, ...near);
      if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
      const pad = (hi - lo) * 0.05;
      return [lo - pad, hi + pad];
    };
  }

  function drawLimits(chart) {
    return (u) => {
      const { ctx, bbox } = u;
      let drawn = 0;
      ctx.save();
      ctx.strokeStyle = "#b3261e"; ctx.fillStyle = "#b3261e";
      ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.font = `${11 * devicePixelRatio}px sans-serif`;
      for (const v of chart.limits) {
        const y = Math.round(u.valToPos(v, "y", true));
        if (y < bbox.top || y > bbox.top + bbox.height) continue;
        ctx.beginPath(); ctx.moveTo(bbox.left, y); ctx.lineTo(bbox.left + bbox.width, y); ctx.stroke();
        ctx.fillText(number.format(v), bbox.left + 4, y - 3);
        drawn += 1;
      }
      ctx.restore();
      chart.el.dataset.limitsDrawn = String(drawn);
    };
  }

  function setRange(start, end) {
    shown.start = start; shown.end = end; shown.zoomed = true;
    for (const c of charts) if (c.plot) c.plot.setScale("x", { min: start, max: end });
  }

  function pan(u, down) {
    const x0 = down.clientX, start0 = shown.start, end0 = shown.end;
    const perPx = (end0 - start0) / u.over.clientWidth;
    function move(e) { const dt = (x0 - e.clientX) * perPx; setRange(start0 + dt, end0 + dt); }
    function up() {
      document.removeEventListener("mousemove", move);
      document.removeEventListener("mouseup", up);
      loadAll();
    }
    document.addEventListener("mousemove", move);
    document.addEventListener("mouseup", up);
  }

  // The lines a chart is read by stand out 3:1 from the card (WCAG 1.4.11): the band's edges
  // were #8cc7b5 (1.9:1), now #4f9a84 (3.3:1); uPlot's tick marks were rgba(0,0,0,.07) (1.2:1) and
  // take the grey of the form fields' edges (3.4:1), as the SVG charts' axes do. The grid stays
  // a faint guide behind them.
  const edge = getComputedStyle(grid).getPropertyValue("--field-edge").trim();
  const ticks = { stroke: edge, width: 1 };

  function create(chart) {
    const unit = chart.el.dataset.unit;
    const value = (u, v) => (v == null ? "–" : `${number.format(v)} ${unit}`);
    chart.el.textContent = "";
    chart.plot = new uPlot({
      width: chart.el.clientWidth || 600,
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      cursor: {
        // Only the crosshair is shared: a drag or a double-click acts once, from its own chart.
        sync: { key: "installation-charts", filters: { pub: (type) => type === "mousemove" || type === "mouseleave" } },
        drag: { x: true, y: false, setScale: false },
        bind: {
          mousedown: (u, target, handler) => (e) => {
            if (e.shiftKey) { e.preventDefault(); pan(u, e); return null; }
            return handler(e);
          },
          dblclick: () => () => { resetRange(); return null; },
        },
      },
      scales: { x: { time: true, range: () => [shown.start, shown.end] }, y: { range: yRange(chart) } },
      series: [
        { label: grid.dataset.timeLabel, value: (u, v) => (v == null ? "–"
          : time.format(new Date(v * 1000)) + (clocksChange(u) ? ` ${offset(v)}` : "")) },
        { label: chart.el.dataset.label, stroke: "#1a7f64", width: 1.6, value },
        { label: "min", stroke: "#4f9a84", width: 1, value },
        { label: "max", stroke: "#4f9a84", width: 1, value },
      ],
      bands: [{ series: [3, 2], fill: "rgba(182, 221, 210, 0.6)" }],
      // Axis labels in the page's language and the lab's zone, never the US month/day.
      // Labels with the offset are twice as wide: ticks further apart, or they overlap.
      axes: [{ space: (u) => (clocksChange(u) ? 110 : 50), values: (u, splits) => {
        const short = u.scales.x.max - u.scales.x.min <= 2 * 86400;
        const f = short ? (clocksChange(u) ? clockAndOffset : clock) : day;
        const labels = splits.map((v) => f.format(new Date(v * 1000)));
        chart.el.dataset.timeTicks = labels.join(" | ");
        return labels;
      }, ticks }, { size: 56, ticks }],
      hooks: {
        draw: [drawLimits(chart)],
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const start = u.posToVal(u.select.left, "x");
          const end = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          setRange(start, end);
          loadAll();
        }],
      },
    }, [[], [], [], []], chart.el);
    new ResizeObserver(() => chart.plot.setSize({ width: chart.el.clientWidth, height: 200 })).observe(chart.el);
  }

  function note(chart, text) {
    let p = chart.el.parentElement.querySelector(".chart-note");
    if (!p) { p = document.createElement("p"); p.className = "chart-note muted small"; chart.el.after(p); }
    p.textContent = text;
    p.hidden = !text;
  }

  function show(chart, data, every) {
    if (data === undefined) return;
    chart.limits = [data.limits.low, data.limits.high].filter((v) => v != null);
    if (!chart.plot) create(chart);
    chart.plot.setData(columns(data, every));
    chart.el.dataset.points = String(data.t.length);
    chart.el.dataset.start = String(shown.start);
    chart.el.dataset.end = String(shown.end);
    note(chart, data.t.length ? "" : grid.dataset.noData);
  }

  // background: the page's own refresh, which keeps no login alive (the user's zoom does).
  async function loadAll(background = false) {
    // One request for every chart of the page: one login check and one installation lookup.
    // The page itself asked for the first one (recyclabFirstSeries).
    const first = window.recyclabFirstSeries;
    window.recyclabFirstSeries = null;
    let response, data;
    try {
      response = await (first || fetch(`${grid.dataset.seriesUrl}?${params(false)}`, {
        headers: { Accept: "application/json", ...(background ? { "X-Recyclab-Background": "1" } : {}) },
        cache: "no-store",
      }));
      if (response.status === 401) { window.location.reload(); return; }
      data = await response.json();
    } catch (err) {
      // No answer, or not ours (a proxy's error page): the charts would go on showing the
      // last picture as if it were current.
      for (const c of charts) note(c, grid.dataset.lost);
      return;
    }
    if (!response.ok) {
      for (const c of charts) note(c, `${grid.dataset.storeError} (${data.error || response.status})`);
      return;
    }
    if (!shown.zoomed) { shown.start = data.start; shown.end = data.end; }
    const query = params(true);
    for (const c of charts) {
      show(c, data.sensors[c.el.dataset.sensor], data.every_s);
      for (const link of c.el.parentElement.querySelectorAll("a[data-csv]")) {
        link.href = `${c.el.dataset.csvUrl}?${query}${link.dataset.csv === "semicolon" ? "&sep=semicolon" : ""}`;
      }
    }
    grid.dataset.zoomed = String(shown.zoomed);
    if (refreshNote) refreshNote.textContent = shown.zoomed ? refreshNote.dataset.paused : refreshText;
  }

  function resetRange() {
    shown.zoomed = false;
    if (chosen !== "custom") { shown.end = Date.now() / 1000; shown.start = shown.end - chosenSpan; }
    else { shown.start = Number(grid.dataset.start); shown.end = Number(grid.dataset.end); }
    loadAll();
  }

  loadAll().then(() => {
    // Milliseconds from navigation to every chart drawn: the page's own load-time figure.
    grid.dataset.readyMs = String(Math.round(performance.now()));
  });
  const every = Number(grid.dataset.refreshMs);
  if (every) {
    setInterval(() => { if (!shown.zoomed && !document.hidden) loadAll(true); }, every);
  }
})();
