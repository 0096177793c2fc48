// Hand-written SVG charts (no library, nothing fetched at run time): line charts and horizontal gauges.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#be123c", "#0f766e"];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A phone-sized screen: charts get a smaller canvas, so their text stays readable when scaled down. */
function narrow() {
  return typeof window !== "undefined" && window.innerWidth < 640;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickLabel(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 0.001) return v.toExponential(0);
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** Ticks of a log axis as [log10 position, label]: each decade in range, "0" at the left edge if zeros sit there. */
function logTicks(x0, x1, hasZero) {
  const ticks = [];
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) ticks.push([e, tickLabel(10 ** e)]);
  if (ticks.length < 2) ticks.push([x1, tickLabel(Number((10 ** x1).toPrecision(2)))]);
  if (hasZero) ticks.unshift([x0, "0"]);
  else if (ticks.length < 3) ticks.unshift([x0, tickLabel(Number((10 ** x0).toPrecision(2)))]);
  // Labels closer than a tenth of the axis overlap; keep the first of each cluster.
  return ticks.sort((a, b) => a[0] - b[0]).filter((t, i, all) => i === 0 || t[0] - all[i - 1][0] > (x1 - x0) / 10);
}

/**
 * A line chart. `series`: [{name, points: [[x, y], ...], dash, dots}] (`dash`: an SVG dash pattern; `dots: false`: no
 * point marks on a short line, e.g. a threshold drawn as two points); `xLog` draws x on a log scale (values ≤ 0 sit
 * at the left edge); `markers`: [{x, y, label}] circled points. Missing or non-finite values are skipped.
 */
export function lineChart({ title, series, xLabel = "", yLabel = "", yMin, yMax, xLog = false, xInteger = false, markers = [], width = narrow() ? 380 : 560, height = 260 }) {
  const pad = { left: 56, right: 16, top: 28, bottom: 44 };
  const clean = series
    .map((line) => ({ ...line, points: line.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }))
    .map((line, i) => ({ ...line, color: line.color || COLORS[i % COLORS.length] }))
    .filter((line) => line.points.length);
  const itemWidth = (line) => line.name.length * 6.5 + 28;
  const legendWidth = clean.reduce((w, line) => w + itemWidth(line), 0);
  // A legend that would run into the title goes below it, in as many rows as the width needs (a phone).
  const beside = pad.left + title.length * 7.5 + legendWidth <= width - pad.right;
  const rows = [[]];
  let rowWidth = 0;
  for (const line of clean) {
    if (!beside && rows.at(-1).length && rowWidth + itemWidth(line) > width - pad.right - 8) {
      rows.push([]);
      rowWidth = 0;
    }
    rows.at(-1).push(line);
    rowWidth += itemWidth(line);
  }
  const legendY = beside ? 18 : 36;
  pad.top += legendY - 18 + (rows.length - 1) * 15;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  svg.append(s("text", { x: pad.left, y: 18, class: "chart-title" }, title));
  if (!clean.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted" }, "no data yet"));
    return svg;
  }
  const xs = clean.flatMap((l) => l.points.map((p) => p[0])).concat(markers.map((m) => m.x));
  const ys = clean.flatMap((l) => l.points.map((p) => p[1])).concat(markers.map((m) => m.y));
  const positive = xs.filter((x) => x > 0);
  const logFloor = positive.length ? Math.min(...positive) / 2 : 0.01;
  const fx = xLog ? (x) => Math.log10(Math.max(x, logFloor)) : (x) => x;
  let [x0, x1] = [Math.min(...xs.map(fx)), Math.max(...xs.map(fx))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  let y0 = yMin ?? Math.min(...ys);
  let y1 = yMax ?? Math.max(...ys);
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const W = width - pad.left - pad.right;
  const H = height - pad.top - pad.bottom;
  const px = (x) => pad.left + ((fx(x) - x0) / (x1 - x0)) * W;
  const py = (y) => pad.top + (1 - (Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0)) * H;

  const axes = s("g", { class: "axes" });
  for (const t of niceTicks(y0, y1)) {
    axes.append(s("line", { x1: pad.left, x2: pad.left + W, y1: py(t), y2: py(t), class: "gridline" }));
    axes.append(s("text", { x: pad.left - 6, y: py(t) + 4, "text-anchor": "end" }, tickLabel(t)));
  }
  const xTicks = xLog ? logTicks(x0, x1, xs.some((x) => x <= 0)) : niceTicks(x0, x1, 6).filter((t) => !xInteger || Number.isInteger(t)).map((t) => [t, tickLabel(t)]);
  for (const [t, label] of xTicks) {
    const at = xLog ? t : fx(t);
    if (at < x0 - 1e-9 || at > x1 + 1e-9) continue;
    const edge = at > x1 - (x1 - x0) * 0.04 ? "end" : "middle";
    axes.append(s("text", { x: pad.left + ((at - x0) / (x1 - x0)) * W, y: pad.top + H + 16, "text-anchor": edge }, label));
  }
  axes.append(s("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: pad.top + H, class: "axis" }));
  axes.append(s("line", { x1: pad.left, x2: pad.left + W, y1: pad.top + H, y2: pad.top + H, class: "axis" }));
  axes.append(s("text", { x: pad.left + W / 2, y: height - 6, "text-anchor": "middle", class: "axis-label" }, xLabel));
  axes.append(s("text", { x: 12, y: pad.top + H / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${pad.top + H / 2})`, class: "axis-label" }, yLabel));
  svg.append(axes);

  clean.forEach((line) => {
    const color = line.color;
    const d = line.points.map(([x, y], k) => `${k ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: "series", "data-name": line.name, ...(line.dash ? { "stroke-dasharray": line.dash } : {}) }));
    if (line.points.length < 40 && line.dots !== false) {
      for (const [x, y] of line.points) svg.append(s("circle", { cx: px(x), cy: py(y), r: 3, fill: color }));
    }
  });
  for (const m of markers) {
    if (!Number.isFinite(m.x) || !Number.isFinite(m.y)) continue;
    svg.append(s("circle", { cx: px(m.x), cy: py(m.y), r: 6, class: "marker" }));
    const right = px(m.x) < pad.left + W * 0.6;
    // A point at the top of the plot gets its label below it, clear of the title and the legend.
    const below = py(m.y) - 8 < pad.top + 12;
    svg.append(s("text", { x: px(m.x) + (right ? 10 : -10), y: py(m.y) + (below ? 18 : -8), "text-anchor": right ? "start" : "end", class: "marker-label" }, m.label));
  }
  // Legend along the top right.
  rows.forEach((row, r) => {
    const y = legendY + r * 15;
    let lx = width - pad.right;
    for (const line of [...row].reverse()) {
      svg.append(s("text", { x: lx, y, "text-anchor": "end", class: "legend" }, line.name));
      lx -= line.name.length * 6.5 + 6;
      svg.append(s("rect", { x: lx - 10, y: y - 8, width: 10, height: 10, fill: line.color }));
      lx -= 22;
    }
  });
  return svg;
}

/** A horizontal bar of `value` on [0, max] with an optional target line, for FRR and FA/h. */
export function gauge({ title, value, max, target, format = (v) => String(v), width = 420 }) {
  const height = 52;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "gauge", role: "img", "aria-label": `${title}: ${format(value)}` });
  svg.append(s("title", {}, `${title}: ${format(value)}`));
  svg.append(s("text", { x: 0, y: 12, class: "gauge-title" }, title));
  svg.append(s("text", { x: width, y: 12, "text-anchor": "end", class: "gauge-value" }, format(value)));
  svg.append(s("rect", { x: 0, y: 20, width, height: 14, rx: 3, class: "gauge-track" }));
  const top = Math.max(max, value, target || 0) || 1;
  // Green or red only against a target: a false-reject rate of 100% has none, and was shown green.
  const verdict = target === undefined ? "" : value <= target ? " good" : " bad";
  svg.append(s("rect", { x: 0, y: 20, width: Math.max(2, (value / top) * width), height: 14, rx: 3, class: `gauge-bar${verdict}` }));
  if (target !== undefined) {
    const tx = (target / top) * width;
    svg.append(s("line", { x1: tx, x2: tx, y1: 16, y2: 38, class: "gauge-target" }));
    svg.append(s("text", { x: Math.min(tx, width - 2), y: 50, "text-anchor": tx > width - 40 ? "end" : "middle", class: "gauge-note" }, `target ${format(target)}`));
  }
  return svg;
}

/**
 * A histogram: `bins` [{low, high, count}] drawn as touching bars of equal width (the bins need not be), the bin
 * edges labelled between them and each count over its bar; `format` writes an edge. A null `low` or `high` is an
 * open end ("under 0.5", "10 and over"), told by the bar's tooltip.
 */
export function histogram({ title, bins, xLabel = "", yLabel = "clips", format = (v) => String(v), width = narrow() ? 380 : 560, height = 240 }) {
  const pad = { left: 44, right: 16, top: 30, bottom: 44 };
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart histogram", role: "img", "aria-label": `${title}: ${bins.map((b) => `${binText(b, format)} ${b.count}`).join(", ")}` });
  svg.append(s("title", {}, title));
  svg.append(s("text", { x: pad.left, y: 18, class: "chart-title" }, title));
  const W = width - pad.left - pad.right;
  const H = height - pad.top - pad.bottom;
  const top = Math.max(1, ...bins.map((b) => b.count));
  // Room over the tallest bar for its count, clear of the title.
  const ticks = niceTicks(0, top * 1.15, 4).filter((t) => Number.isInteger(t));
  const yMax = Math.max(top * 1.15, ticks.at(-1) || 1);
  const py = (v) => pad.top + (1 - v / yMax) * H;
  const axes = s("g", { class: "axes" });
  for (const t of ticks) {
    axes.append(s("line", { x1: pad.left, x2: pad.left + W, y1: py(t), y2: py(t), class: "gridline" }));
    axes.append(s("text", { x: pad.left - 6, y: py(t) + 4, "text-anchor": "end" }, tickLabel(t)));
  }
  const step = W / Math.max(1, bins.length);
  bins.forEach((bin, i) => {
    const x = pad.left + i * step;
    const bar = s("rect", { x: x + 1, y: py(bin.count), width: Math.max(1, step - 2), height: Math.max(0, pad.top + H - py(bin.count)), class: "bar", "data-clips": bin.count });
    bar.append(s("title", {}, `${binText(bin, format)}: ${bin.count} clip${bin.count === 1 ? "" : "s"}`));
    svg.append(bar);
    if (bin.count) svg.append(s("text", { x: x + step / 2, y: py(bin.count) - 4, "text-anchor": "middle", class: "bar-count" }, String(bin.count)));
    // The edge between this bar and the next: where one bin ends and the next begins.
    if (i < bins.length - 1 && bin.high !== null) {
      axes.append(s("text", { x: x + step, y: pad.top + H + 16, "text-anchor": "middle" }, format(bin.high)));
    }
  });
  axes.append(s("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: pad.top + H, class: "axis" }));
  axes.append(s("line", { x1: pad.left, x2: pad.left + W, y1: pad.top + H, y2: pad.top + H, class: "axis" }));
  axes.append(s("text", { x: pad.left + W / 2, y: height - 6, "text-anchor": "middle", class: "axis-label" }, xLabel));
  axes.append(s("text", { x: 12, y: pad.top + H / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${pad.top + H / 2})`, class: "axis-label" }, yLabel));
  svg.prepend(axes);
  svg.prepend(svg.querySelector("title"));
  return svg;
}

function binText(bin, format) {
  if (bin.low === null) return `under ${format(bin.high)}`;
  if (bin.high === null) return `${format(bin.low)} and over`;
  return `${format(bin.low)} to ${format(bin.high)}`;
}
