// Linearizability counterexample view (SVG): the failing key's ops as intervals per process,
// the chosen partial linearization numbered in order and joined through linearization points,
// the op that could not be linearized in red. Text is set with textContent only.
window.FaultboxCx = function (D, showTip, hideTip) {
  "use strict";
  var cx = D.cx, host = document.getElementById("cx-view");
  if (!cx || !host) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var L = 96, R = 16, TOP = 26, ROW = 40, BAR = 22, AXIS = 26;
  var select = document.getElementById("cx-lin");
  var byIdx = {};
  cx.ops.forEach(function (o) { byIdx[o.i] = o; });

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function text(parent, x, y, s, attrs) {
    var t = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function niceStep(range, n) {
    var raw = range / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }

  function draw(linNo) {
    while (host.firstChild) { host.removeChild(host.firstChild); }
    if (!cx.ops.length) { host.textContent = "The checker named no ops of the failing key."; return; }
    var lin = cx.lins[linNo] || [];
    var order = {};
    lin.forEach(function (i, n) { order[i] = n + 1; });
    var t0 = Infinity, t1 = -Infinity;
    cx.ops.forEach(function (o) { t0 = Math.min(t0, o.a); t1 = Math.max(t1, o.b); });
    var pad = Math.max(1, (t1 - t0) * 0.02);
    t0 -= pad; t1 += pad;
    var W = Math.max(host.clientWidth || 900, Math.min(6000, cx.ops.length * 14)), H = TOP + cx.rows.length * ROW + AXIS;
    function x(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "font-family": "system-ui, sans-serif", "font-size": 11 }, host);
    cx.rows.forEach(function (label, r) {
      if (r % 2 === 0) { el("rect", { x: L, y: TOP + r * ROW, width: W - L - R, height: ROW, fill: "#f6f7f9" }, svg); }
      text(svg, 4, TOP + r * ROW + ROW / 2 + 4, label, { fill: "#667085" });
    });
    var step = niceStep(t1 - t0, Math.max(2, (W - L) / 120)), axisY = TOP + cx.rows.length * ROW + 4;
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      el("line", { x1: x(t), x2: x(t), y1: TOP, y2: axisY, stroke: "#e3e6ec" }, svg);
      text(svg, x(t) + 2, axisY + 14, (t / 1e6).toFixed(Math.max(0, Math.min(6, 6 - Math.floor(Math.log10(step))))) + " s", { fill: "#667085" });
    }
    cx.ops.forEach(function (o) {
      var n = order[o.i], failed = o.i === cx.failed;
      var g = el("g", { "class": "cx-op", "data-op": o.i }, svg);
      var y = TOP + o.r * ROW + (ROW - BAR) / 2, w = Math.max(3, x(o.b) - x(o.a));
      el("rect", { x: x(o.a), y: y, width: w, height: BAR, rx: 3,
        fill: failed ? "#f8d0d0" : n ? "#d6e6fb" : "#eceef2",
        stroke: failed ? "#d93b3b" : n ? "#3b7dd8" : "#b9bfca",
        "stroke-width": failed ? 2.5 : 1, "stroke-dasharray": o.o === "ok" ? "" : "4 3" }, g);
      var label = (n ? n + ". " : failed ? "✗ " : "") + o.label;
      var room = Math.floor((w - 6) / 6.2);
      if (room > 3) { text(g, x(o.a) + 4, y + BAR / 2 + 4, label.length > room ? label.slice(0, room - 1) + "…" : label, { fill: failed ? "#8b1a1a" : "#1d2330" }); }
      g.addEventListener("mousemove", function (ev) {
        showTip("op #" + o.i + (o.c !== null ? " (completed #" + o.c + ")" : " (never completed)") + "\n" + o.label +
          (n ? "\nposition " + n + " of " + lin.length + " in this partial linearization" : "") +
          (failed ? "\ncould not be linearized after the longest prefix" : ""), ev);
      });
      g.addEventListener("mouseleave", hideTip);
      g.addEventListener("click", function () {
        if (document.getElementById("op-" + o.i)) { window.location.hash = "op-" + o.i; }
      });
    });
    // Linearization points: the earliest instant in each interval not before the previous one.
    var prev = -Infinity, pts = [];
    lin.forEach(function (i) {
      var o = byIdx[i];
      if (!o) { return; }
      var p = Math.min(Math.max(o.a, prev), o.b);
      prev = p;
      pts.push([x(p), TOP + o.r * ROW + ROW / 2, i]);
    });
    if (pts.length > 1) {
      el("polyline", { points: pts.map(function (p) { return p[0] + "," + p[1]; }).join(" "),
        fill: "none", stroke: "#3b7dd8", "stroke-width": 1.5, "stroke-opacity": 0.7, "pointer-events": "none" }, svg);
    }
    pts.forEach(function (p, n) {
      el("circle", { cx: p[0], cy: p[1], r: 3.5, fill: "#3b7dd8", "pointer-events": "none" }, svg);
      text(svg, p[0] + 3, p[1] - BAR / 2 - 1, String(n + 1), { fill: "#1f4f99", "font-weight": 700, "pointer-events": "none" });
    });
    var f = byIdx[cx.failed];
    if (f) {
      var fy = TOP + f.r * ROW + ROW / 2, fx = Math.min(Math.max(x(f.a), pts.length ? pts[pts.length - 1][0] : x(f.a)), x(f.b));
      el("path", { d: "M" + (fx - 5) + " " + (fy - 5) + "l10 10m0 -10l-10 10", stroke: "#d93b3b", "stroke-width": 3, "pointer-events": "none" }, svg);
      text(svg, x(f.a), TOP + f.r * ROW + 2, "cannot linearize", { fill: "#d93b3b", "font-weight": 700, "pointer-events": "none" });
    }
  }
  if (select) { select.addEventListener("change", function () { draw(Number(select.value)); }); }
  draw(0);
  window.addEventListener("resize", function () { draw(select ? Number(select.value) : 0); });
};
