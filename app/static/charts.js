// Charts: a line chart (hand-written SVG) and a confusion matrix (a table). Colours come from CSS classes
// (app.css), so no inline style is needed and the page's CSP holds.

import { el, formatNumber, svg } from "./api.js";

const W = 420, H = 220, PAD = { left: 48, right: 12, top: 12, bottom: 34 };

/** Round tick values (1, 2 or 5 times a power of ten apart) that cover [low, high]. */
function ticks(low, high, count = 4) {
  const raw = (high - low) / count || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const values = [];
  for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) values.push(+v.toFixed(10));
  return { values, low: Math.min(low, values[0]), high: Math.max(high, values[values.length - 1]) };
}

function tickText(v) {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(3));
}

/**
 * A line chart of `series` ([{name, cls, points: [[x, y], ...], dots}]) in a new <figure>;
 * `yRange` fixes the y axis ([0, 1] for accuracies), else it fits the data.
 */
export function lineChart({ title, xLabel, series, yRange, testid }) {
  const points = series.flatMap((s) => s.points);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const xTicks = ticks(0, Math.max(1, ...xs));
  const yTicks = yRange ? ticks(...yRange) : ticks(Math.min(0, ...ys), Math.max(0.1, ...ys));
  const x = (v) => PAD.left + ((v - xTicks.low) / (xTicks.high - xTicks.low)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - yTicks.low) / (yTicks.high - yTicks.low)) * (H - PAD.top - PAD.bottom);

  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  for (const v of yTicks.values) {
    chart.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
                 svg("text", { x: PAD.left - 4, y: y(v) + 4, class: "tick end" }, tickText(v)));
  }
  for (const v of xTicks.values) {
    chart.append(svg("text", { x: x(v), y: H - PAD.bottom + 14, class: "tick middle" }, tickText(v)));
  }
  chart.append(svg("text", { x: (PAD.left + W - PAD.right) / 2, y: H - 4, class: "axis middle" }, xLabel));
  for (const s of series) {
    if (!s.points.length) continue;
    const path = s.points.map(([px, py], i) => `${i ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
    chart.append(svg("path", { d: path, class: `line ${s.cls}` }));
    if (s.dots !== false) {
      for (const [px, py] of s.points) {
        chart.append(svg("circle", { cx: x(px), cy: y(py), r: 3, class: `dot ${s.cls}`, "data-testid": "chart-point" },
                         svg("title", {}, `${s.name}: ${formatNumber(py, 4)} at ${formatNumber(px, 2)}`)));
      }
    }
  }
  const legend = el("figcaption", {}, el("strong", {}, title), " ",
                    ...series.map((s) => el("span", { class: `key ${s.cls}` }, s.name)));
  return el("figure", { "data-testid": testid }, chart, legend);
}

/**
 * A confusion matrix (rows: true label, columns: predicted) as a table, cells shaded by their share
 * of the row. Its cells and its text keep their size whatever the number of labels (app.css): with
 * many labels the table scrolls in its box rather than shrinking. Long labels are cut short on
 * screen and given whole in their title; each cell's title gives its count and share.
 */
export function confusionMatrix(labels, matrix, testid) {
  const head = el("tr", {}, el("th", { class: "corner", scope: "col" }, "true \\ predicted"),
    ...labels.map((label) => el("th", { class: "col-label", scope: "col", title: `predicted ${label}` },
                                el("span", {}, label))));
  const rows = labels.map((label, i) => {
    const rowTotal = matrix[i].reduce((a, b) => a + b, 0);
    return el("tr", {}, el("th", { class: "row-label", scope: "row", title: `true ${label}` }, el("span", {}, label)),
      ...matrix[i].map((count, j) => {
        const share = rowTotal ? count / rowTotal : 0;
        const level = Math.min(9, Math.round(share * 9)); // classes shade-0 .. shade-9 (app.css)
        return el("td", { class: `cell shade-${level}${i === j ? " diagonal" : ""}`, "data-testid": "matrix-cell",
                          "data-count": count,
                          title: `true ${label}, predicted ${labels[j]}: ${count} (${(share * 100).toFixed(1)}% of the row)` },
                  String(count));
      }));
  });
  const table = el("table", { class: "matrix", "data-testid": testid, "aria-label": "confusion matrix" },
                   el("thead", {}, head), el("tbody", {}, ...rows));
  return el("div", { class: "matrix-box" }, table);
}
