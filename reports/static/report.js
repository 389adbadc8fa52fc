// faultbox report: timeline, latency, throughput (canvas) and the counterexample (SVG).
// All data comes from the JSON block #fb-data; run values are written with textContent only.
(function () {
  "use strict";
  var errors = (window.__fbErrors = window.__fbErrors || []);
  window.addEventListener("error", function (e) { errors.push(String(e.message)); });

  var D = JSON.parse(document.getElementById("fb-data").textContent);
  var OUTCOMES = D.outcomes;
  var COLORS = { ok: "#2e9d4f", fail: "#d93b3b", info: "#e0a000", open: "#b07d00" };
  var FAULT_COLORS = { partition: "#f28e2b", kill: "#e15759", pause: "#9c6ade", clock: "#4e79a7",
    packet: "#59a89c" };
  var L = 96, R = 12, AXIS_H = 22, STRIP_H = 16;
  var full = [0, Math.max(D.end_us, 1)];
  var view = [full[0], full[1]];
  var redraws = [];
  var pending = false;
  var selected = null;
  var tip = document.getElementById("tip");

  function faultColor(kind) {
    for (var k in FAULT_COLORS) { if (kind.indexOf(k) === 0) { return FAULT_COLORS[k]; } }
    return "#8c8c8c";
  }
  function fmtS(us) { return (us / 1e6).toFixed(us < 1e7 ? 3 : 2) + " s"; }
  function fmtPow(e) {  // 10^e microseconds as a short label
    var v = Math.pow(10, e);
    return v >= 1e6 ? v / 1e6 + " s" : v >= 1e3 ? v / 1e3 + " ms" : v + " µs";
  }
  function fmtMs(us) { return (us / 1e3).toFixed(us < 1e4 ? 3 : 1) + " ms"; }

  // ---- shared time view ------------------------------------------------------------
  function requestDraw() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      redraws.forEach(function (f) { f(); });
      var vr = document.getElementById("view-range");
      if (vr) { vr.textContent = "view " + fmtS(view[0]) + " – " + fmtS(view[1]); }
    });
  }
  function setView(a, b) {
    var span = full[1] - full[0];
    var w = Math.min(Math.max(b - a, 5), span * 1.1);
    var lo = Math.max(full[0] - span * 0.05, Math.min(a, full[1] + span * 0.05 - w));
    view = [lo, lo + w];
    requestDraw();
  }
  function zoomAt(t, factor) {
    setView(t - (t - view[0]) * factor, t + (view[1] - t) * factor);
  }
  function xOf(t, width) { return L + (t - view[0]) / (view[1] - view[0]) * (width - L - R); }
  function tOf(x, width) { return view[0] + (x - L) / (width - L - R) * (view[1] - view[0]); }

  function niceStep(range, n) {
    var raw = range / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }

  // ---- canvas helpers ----------------------------------------------------------------
  function setup(canvas, height) {
    var dpr = window.devicePixelRatio || 1;
    var width = canvas.parentNode.clientWidth || 800;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.height = height + "px";
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx: ctx, w: width, h: height };
  }
  function drawBands(c, top, bottom, strip) {
    D.bands.forEach(function (b) {
      var x0 = Math.max(L, xOf(b.a, c.w)), x1 = Math.min(c.w - R, xOf(b.b, c.w));
      if (x1 < L || x0 > c.w - R) { return; }
      var col = faultColor(b.k);
      c.ctx.globalAlpha = 0.14;
      c.ctx.fillStyle = col;
      c.ctx.fillRect(x0, top, Math.max(1, x1 - x0), bottom - top);
      c.ctx.globalAlpha = 1;
      if (strip) {
        c.ctx.fillRect(x0, 1, Math.max(2, x1 - x0), STRIP_H - 2);
        if (x1 - x0 > 40) {
          c.ctx.fillStyle = "#fff";
          c.ctx.font = "11px system-ui, sans-serif";
          c.ctx.fillText(b.k + (b.closed ? "" : " (never healed)"), x0 + 3, STRIP_H - 4, x1 - x0 - 6);
        }
      }
    });
  }
  function drawAxis(c, y) {
    var ctx = c.ctx, step = niceStep(view[1] - view[0], Math.max(2, (c.w - L) / 110));
    ctx.strokeStyle = "#d7dbe3";
    ctx.fillStyle = "#667085";
    ctx.font = "11px system-ui, sans-serif";
    ctx.beginPath();
    ctx.moveTo(L, y + 0.5); ctx.lineTo(c.w - R, y + 0.5); ctx.stroke();
    for (var t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
      var x = xOf(t, c.w);
      ctx.fillRect(x, y, 1, 4);
      ctx.fillText((t / 1e6).toFixed(step < 1e4 ? 3 : step < 1e6 ? 2 : 1) + "s", x + 2, y + 14);
    }
  }
  function showTip(text, ev) {
    tip.textContent = text;
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) { x = ev.clientX - tip.offsetWidth - 10; }
    if (y + tip.offsetHeight > window.innerHeight) { y = ev.clientY - tip.offsetHeight - 10; }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function hideTip() { tip.hidden = true; }

  // Zoom (wheel, buttons, double-click) and pan (drag) on any plot canvas.
  function interactive(canvas, onHover, onClick) {
    var drag = null;
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = canvas.getBoundingClientRect();
      zoomAt(tOf(ev.clientX - r.left, r.width), Math.exp(ev.deltaY * 0.0015));
    }, { passive: false });
    canvas.addEventListener("mousedown", function (ev) {
      drag = { x: ev.clientX, view: view.slice(), moved: false };
      canvas.classList.add("dragging");
    });
    window.addEventListener("mouseup", function (ev) {
      if (!drag) { return; }
      var d = drag; drag = null;
      canvas.classList.remove("dragging");
      if (!d.moved && onClick && ev.target === canvas) { onClick(ev); }
    });
    canvas.addEventListener("mousemove", function (ev) {
      var r = canvas.getBoundingClientRect();
      if (drag) {
        var dx = ev.clientX - drag.x;
        if (Math.abs(dx) > 2) { drag.moved = true; }
        var dt = dx / (r.width - L - R) * (drag.view[1] - drag.view[0]);
        setView(drag.view[0] - dt, drag.view[1] - dt);
        hideTip();
        return;
      }
      var text = onHover(ev.clientX - r.left, ev.clientY - r.top, r.width);
      if (text) { showTip(text, ev); } else { hideTip(); }
    });
    canvas.addEventListener("mouseleave", hideTip);
    canvas.addEventListener("dblclick", function () { setView(full[0], full[1]); });
  }

  // ---- timeline ------------------------------------------------------------------------
  var T = D.timeline;
  var nrows = Math.max(1, D.rows.length);
  var rowH = Math.max(3, Math.min(22, Math.floor(520 / nrows)));
  var tlH = STRIP_H + nrows * rowH + AXIS_H + 4;
  var byRow = D.rows.map(function () { return []; });
  T.i.forEach(function (_, k) { byRow[T.r[k]].push(k); });
  var posOf = {};
  T.i.forEach(function (idx, k) { posOf[idx] = k; });
  var tlCanvas = document.getElementById("timeline-canvas");

  function drawTimeline() {
    var c = setup(tlCanvas, tlH), ctx = c.ctx, top = STRIP_H, bottom = STRIP_H + nrows * rowH;
    drawBands(c, top, bottom, true);
    ctx.font = "11px system-ui, sans-serif";
    var every = Math.ceil(12 / rowH);
    for (var r = 0; r < nrows; r++) {
      if (r % 2 === 0) { ctx.fillStyle = "rgba(0,0,0,0.025)"; ctx.fillRect(L, top + r * rowH, c.w - L - R, rowH); }
      if (r % every === 0) {
        ctx.fillStyle = "#667085";
        ctx.fillText(D.rows[r], 4, top + r * rowH + Math.min(rowH, 14) - 2, L - 8);
      }
    }
    var gap = rowH > 6 ? 1 : 0, xMin = L, xMax = c.w - R;
    for (var o = 0; o < OUTCOMES.length; o++) {
      ctx.fillStyle = COLORS[OUTCOMES[o]];
      for (var k = 0; k < T.i.length; k++) {
        if (T.o[k] !== o || T.b[k] < view[0] || T.a[k] > view[1]) { continue; }
        var x0 = Math.max(xMin, xOf(T.a[k], c.w)), x1 = Math.min(xMax, xOf(T.b[k], c.w));
        ctx.fillRect(x0, top + T.r[k] * rowH + gap, Math.max(1, x1 - x0), rowH - 2 * gap);
      }
    }
    if (rowH >= 14) { drawBarText(c, top); }
    if (selected !== null && posOf[selected] !== undefined) {
      var s = posOf[selected];
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      ctx.strokeRect(xOf(T.a[s], c.w) - 1, top + T.r[s] * rowH, Math.max(3, xOf(T.b[s], c.w) - xOf(T.a[s], c.w) + 2), rowH);
      ctx.lineWidth = 1;
    }
    ctx.fillStyle = "#1d2330";
    D.nemesis.forEach(function (n) {
      if (n.t >= view[0] && n.t <= view[1]) { ctx.fillRect(xOf(n.t, c.w) - 0.5, 0, 1.5, STRIP_H); }
    });
    drawAxis(c, bottom + 2);
  }
  function drawBarText(c, top) {
    var ctx = c.ctx;
    ctx.fillStyle = "#fff";
    ctx.font = "11px system-ui, sans-serif";
    for (var k = 0; k < T.i.length; k++) {
      if (T.b[k] < view[0] || T.a[k] > view[1]) { continue; }
      var x0 = Math.max(L, xOf(T.a[k], c.w)), x1 = Math.min(c.w - R, xOf(T.b[k], c.w));
      if (x1 - x0 > 36) { ctx.fillText(T.text[k], x0 + 3, top + T.r[k] * rowH + rowH - 4, x1 - x0 - 6); }
    }
  }
  function opAt(x, y, width) {
    var r = Math.floor((y - STRIP_H) / rowH);
    if (r < 0 || r >= nrows) { return null; }
    var t = tOf(x, width), tol = 3 / (width - L - R) * (view[1] - view[0]);
    var list = byRow[r], lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (T.a[list[mid]] <= t + tol) { lo = mid + 1; } else { hi = mid; } }
    var best = null, bestD = Infinity;
    for (var j = lo - 1; j >= 0 && j >= lo - 64; j--) {
      var k = list[j], d = t < T.a[k] ? T.a[k] - t : t > T.b[k] ? t - T.b[k] : 0;
      if (d <= tol && d < bestD) { best = k; bestD = d; }
    }
    return best;
  }
  function opText(k) {
    var lat = T.b[k] - T.a[k];
    return "op #" + T.i[k] + "  process " + T.p[k] + (T.n[k] ? "  node " + T.n[k] : "") + "\n" +
      T.text[k] + "\ninvoked at " + fmtS(T.a[k]) + " · " +
      (OUTCOMES[T.o[k]] === "open" ? "never completed" : "latency " + fmtMs(lat));
  }
  function bandAt(x, width) {
    var t = tOf(x, width), tol = 4 / (width - L - R) * (view[1] - view[0]);
    for (var m = 0; m < D.nemesis.length; m++) {
      var n = D.nemesis[m];
      if (Math.abs(n.t - t) <= tol) { return "nemesis op #" + n.i + " at " + fmtS(n.t) + "\n" + n.text; }
    }
    for (var j = 0; j < D.bands.length; j++) {
      var b = D.bands[j];
      if (b.a <= t && t <= b.b) {
        return b.k + " " + fmtS(b.a) + " – " + fmtS(b.b) + (b.closed ? "" : " (never healed)") +
          "\nnemesis op #" + b.i + (b.text ? "\n" + b.text : "");
      }
    }
    return null;
  }
  function focusOp(idx, scroll) {
    var k = posOf[idx];
    if (k === undefined) { return false; }
    selected = idx;
    var span = Math.max((T.b[k] - T.a[k]) * 8, (full[1] - full[0]) / 50);
    setView((T.a[k] + T.b[k]) / 2 - span / 2, (T.a[k] + T.b[k]) / 2 + span / 2);
    if (scroll) { document.getElementById("timeline").scrollIntoView(); }
    return true;
  }
  if (T.i.length || D.bands.length || D.nemesis.length) {
    redraws.push(drawTimeline);
    interactive(tlCanvas, function (x, y, w) {
      if (y < STRIP_H) { return bandAt(x, w); }
      var k = opAt(x, y, w);
      return k === null ? null : opText(k);
    }, function (ev) {
      var r = tlCanvas.getBoundingClientRect(), k = opAt(ev.clientX - r.left, ev.clientY - r.top, r.width);
      if (k === null) { return; }
      selected = T.i[k];
      requestDraw();
      if (document.getElementById("op-" + T.i[k])) { window.location.hash = "op-" + T.i[k]; }
    });
  } else {
    document.getElementById("timeline-plot").textContent = "No ops recorded.";
  }
  var legend = document.getElementById("legend");
  function addLegend(color, label) {
    var s = document.createElement("span"), i = document.createElement("i");
    i.className = "sw"; i.style.background = color;
    s.appendChild(i); s.appendChild(document.createTextNode(label));
    legend.appendChild(s);
  }
  ["ok", "fail", "info", "open"].forEach(function (o) {
    addLegend(COLORS[o], o === "open" ? "never completed" : o);
  });
  var kinds = {};
  D.bands.forEach(function (b) { kinds[b.k] = true; });
  Object.keys(kinds).forEach(function (k) { addLegend(faultColor(k), k + " fault"); });

  // ---- latency scatter, one plot per f -------------------------------------------------
  var S = D.scatter, latWrap = document.getElementById("latency-plots");
  var maxLat = 1, minLat = Infinity;
  S.l.forEach(function (l) { if (l > maxLat) { maxLat = l; } if (l > 0 && l < minLat) { minLat = l; } });
  if (!isFinite(minLat)) { minLat = 1; }
  var lgLo = Math.floor(Math.log10(Math.max(1, minLat))), lgHi = Math.ceil(Math.log10(maxLat * 1.01)) || 1;
  if (lgHi <= lgLo) { lgHi = lgLo + 1; }
  function yLat(l, top, h) { return top + h - (Math.log10(Math.max(l, 1)) - lgLo) / (lgHi - lgLo) * h; }
  D.fs.forEach(function (fname, fi) {
    var pts = [];
    for (var k = 0; k < S.a.length; k++) { if (S.f[k] === fi) { pts.push(k); } }
    if (!pts.length) { return; }
    var title = document.createElement("h3"), box = document.createElement("div");
    var canvas = document.createElement("canvas");
    title.textContent = fname + " latency (" + pts.length + " ops)";
    box.className = "plot"; box.style.marginBottom = "6px";
    box.appendChild(canvas); latWrap.appendChild(title); latWrap.appendChild(box);
    var H = 150, top = 6, ph = H - top - AXIS_H;
    redraws.push(function () {
      var c = setup(canvas, H), ctx = c.ctx;
      drawBands(c, top, top + ph, false);
      ctx.font = "11px system-ui, sans-serif";
      for (var e = lgLo; e <= lgHi; e++) {
        var y = yLat(Math.pow(10, e), top, ph);
        ctx.fillStyle = "#eef0f4"; ctx.fillRect(L, y, c.w - L - R, 1);
        ctx.fillStyle = "#667085"; ctx.fillText(fmtPow(e), 4, y + 4, L - 8);
      }
      for (var o = 0; o < OUTCOMES.length; o++) {
        ctx.fillStyle = COLORS[OUTCOMES[o]];
        pts.forEach(function (k) {
          if (S.o[k] !== o || S.a[k] < view[0] || S.a[k] > view[1]) { return; }
          ctx.fillRect(xOf(S.a[k], c.w) - 1, yLat(S.l[k], top, ph) - 1, 2.5, 2.5);
        });
      }
      drawAxis(c, top + ph + 2);
    });
    interactive(canvas, function (x, y, w) {
      var best = null, bestD = 36;
      pts.forEach(function (k) {
        var dx = xOf(S.a[k], w) - x, dy = yLat(S.l[k], top, ph) - y, d = dx * dx + dy * dy;
        if (d < bestD) { best = k; bestD = d; }
      });
      return best === null ? null : "op #" + S.i[best] + "  " + fname + " → " + OUTCOMES[S.o[best]] +
        "\ninvoked at " + fmtS(S.a[best]) + " · latency " + fmtMs(S.l[best]);
    }, null);
  });
  if (!latWrap.childNodes.length) { latWrap.textContent = "No client ops."; }

  // ---- throughput --------------------------------------------------------------------------
  var TP = D.throughput, tpCanvas = document.getElementById("throughput-canvas");
  var tpMax = 1;
  Object.keys(TP.series).forEach(function (k) { TP.series[k].forEach(function (v) { if (v > tpMax) { tpMax = v; } }); });
  if (!T.total) { document.getElementById("throughput-plot").textContent = "No client ops."; }
  if (T.total) redraws.push(function () {
    var H = 180, top = 8, ph = H - top - AXIS_H, c = setup(tpCanvas, H), ctx = c.ctx;
    drawBands(c, top, top + ph, false);
    var step = niceStep(tpMax, 4);
    ctx.font = "11px system-ui, sans-serif";
    for (var v = 0; v <= tpMax; v += step) {
      var y = top + ph - v / tpMax * ph;
      ctx.fillStyle = "#eef0f4"; ctx.fillRect(L, y, c.w - L - R, 1);
      ctx.fillStyle = "#667085"; ctx.fillText(+v.toPrecision(6) + " /s", 4, y + 4, L - 8);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(L, 0, c.w - L - R, H); ctx.clip();
    Object.keys(TP.series).forEach(function (name) {
      var s = TP.series[name];
      ctx.strokeStyle = COLORS[name] || "#444"; ctx.lineWidth = 1.5; ctx.beginPath();
      for (var b = 0; b < s.length; b++) {
        var x = xOf((b + 0.5) * TP.bin_us, c.w), y = top + ph - s[b] / tpMax * ph;
        if (b === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
      }
      ctx.stroke();
    });
    ctx.restore();
    ctx.lineWidth = 1;
    drawAxis(c, top + ph + 2);
  });
  interactive(tpCanvas, function (x, y, w) {
    var t = tOf(x, w), b = Math.floor(t / TP.bin_us);
    if (b < 0 || b >= TP.series.ok.length) { return null; }
    return fmtS(b * TP.bin_us) + " – " + fmtS((b + 1) * TP.bin_us) + "\n" + Object.keys(TP.series).map(function (k) {
      return k + ": " + TP.series[k][b] + " /s";
    }).join("  ");
  }, null);

  // ---- controls ------------------------------------------------------------------------------
  function center() { return (view[0] + view[1]) / 2; }
  document.getElementById("zoom-in").addEventListener("click", function () { zoomAt(center(), 0.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomAt(center(), 2); });
  document.getElementById("zoom-reset").addEventListener("click", function () { setView(full[0], full[1]); });
  var copy = document.getElementById("copy-command");
  if (copy) {
    copy.addEventListener("click", function () {
      var text = document.getElementById("command").textContent;
      var done = function () { copy.textContent = "copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { copy.textContent = "select + copy"; });
      } else {
        var range = document.createRange();
        range.selectNodeContents(document.getElementById("command"));
        window.getSelection().removeAllRanges(); window.getSelection().addRange(range);
        copy.textContent = "selected";
      }
    });
  }
  document.querySelectorAll("a.op-self").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      if (focusOp(Number(a.getAttribute("data-op")), true)) { ev.preventDefault(); }
    });
  });
  window.addEventListener("resize", requestDraw);

  // Hooks for tests and for people poking at a report in the devtools console.
  window.faultbox = {
    data: D,
    errors: errors,
    view: function () { return view.slice(); },
    setView: setView,
    focusOp: focusOp,
    // Client coordinates of the middle of op `idx`'s bar in the timeline, or null.
    opPoint: function (idx) {
      var k = posOf[idx];
      if (k === undefined) { return null; }
      var r = tlCanvas.getBoundingClientRect();
      var x0 = Math.max(L, xOf(T.a[k], r.width)), x1 = Math.min(r.width - R, xOf(T.b[k], r.width));
      if (x1 < L || x0 > r.width - R) { return null; }
      return { x: r.left + (x0 + x1) / 2, y: r.top + STRIP_H + T.r[k] * rowH + rowH / 2 };
    }
  };
  if (T.span) { setView(T.span[0], T.span[1]); } else { requestDraw(); }
  if (window.FaultboxCx) { window.FaultboxCx(D, showTip, hideTip); }
})();
