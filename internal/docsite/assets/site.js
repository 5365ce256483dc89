// percolate docs: pan and zoom for the lineage graphs, selection in the
// model graph, and the column lineage drawn from the page's data. Plain
// script, nothing fetched.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";

  // panZoom lets a person drag an svg's viewport and zoom it with the
  // wheel; a press that moves less than a few pixels is left as a click.
  function panZoom(svg) {
    var vp = svg.querySelector(".viewport");
    var s = { x: 0, y: 0, k: 1 }, drag = null;
    function apply() { vp.setAttribute("transform", "translate(" + s.x + "," + s.y + ") scale(" + s.k + ")"); }
    function point(ev) {
      var r = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
      var scale = Math.max(vb.width / r.width, vb.height / r.height);
      return { x: (ev.clientX - r.left) * scale, y: (ev.clientY - r.top) * scale, scale: scale };
    }
    svg.addEventListener("pointerdown", function (ev) {
      drag = { p: point(ev), x: s.x, y: s.y, moved: false, id: ev.pointerId };
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var p = point(ev), dx = p.x - drag.p.x, dy = p.y - drag.p.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4 * p.scale) return;
      if (!drag.moved) { drag.moved = true; svg.setPointerCapture(drag.id); svg.classList.add("dragging"); }
      s.x = drag.x + dx; s.y = drag.y + dy; apply();
    });
    function end() {
      if (drag && drag.moved) { svg.dataset.dragged = "1"; setTimeout(function () { delete svg.dataset.dragged; }, 0); }
      drag = null; svg.classList.remove("dragging");
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var p = point(ev), f = ev.deltaY < 0 ? 1.15 : 1 / 1.15;
      var k = Math.min(8, Math.max(0.05, s.k * f));
      s.x = p.x - (p.x - s.x) * (k / s.k); s.y = p.y - (p.y - s.y) * (k / s.k); s.k = k; apply();
    }, { passive: false });
    return {
      reset: function () { s = { x: 0, y: 0, k: 1 }; apply(); },
      fit: function () {
        var vb = svg.viewBox.baseVal, w = +svg.dataset.width, h = +svg.dataset.height;
        var k = Math.min(vb.width / w, vb.height / h, 1);
        s = { x: (vb.width - w * k) / 2, y: 0, k: k }; apply();
      },
      size: function (w, h) {
        svg.dataset.width = w; svg.dataset.height = h;
        svg.setAttribute("viewBox", "0 0 " + Math.max(w, 400) + " " + Math.max(h, 120));
        this.reset();
      }
    };
  }

  var views = {};
  document.querySelectorAll("svg.graph").forEach(function (svg) { views[svg.id] = panZoom(svg); });
  document.querySelectorAll("[data-fit]").forEach(function (b) {
    b.addEventListener("click", function () { views[b.dataset.fit].fit(); });
  });
  document.querySelectorAll("[data-reset]").forEach(function (b) {
    b.addEventListener("click", function () { views[b.dataset.reset].reset(); });
  });

  var dataEl = document.getElementById("lineage-data");
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var root = "";

  // The model graph: a click lights up what a model reads and what reads
  // it, all the way; a double click opens its page.
  var graph = document.getElementById("graph");
  var edges = Array.prototype.slice.call(graph.querySelectorAll(".edge"));
  var nodes = {};
  graph.querySelectorAll(".node").forEach(function (n) { nodes[n.dataset.name] = n; });
  var up = {}, down = {};
  edges.forEach(function (e) {
    (up[e.dataset.to] = up[e.dataset.to] || []).push(e.dataset.from);
    (down[e.dataset.from] = down[e.dataset.from] || []).push(e.dataset.to);
  });
  function reach(start, next) {
    var seen = {}, todo = [start];
    seen[start] = true;
    while (todo.length) {
      (next[todo.pop()] || []).forEach(function (n) { if (!seen[n]) { seen[n] = true; todo.push(n); } });
    }
    return seen;
  }
  var info = document.getElementById("info");
  function pick(name) {
    graph.querySelectorAll(".lit, .picked").forEach(function (n) { n.classList.remove("lit", "picked"); });
    if (!nodes[name]) { graph.classList.remove("focus"); return; }
    var a = reach(name, up), d = reach(name, down);
    Object.keys(a).concat(Object.keys(d)).forEach(function (n) { if (nodes[n]) nodes[n].classList.add("lit"); });
    edges.forEach(function (e) {
      if ((a[e.dataset.to] && a[e.dataset.from]) || (d[e.dataset.from] && d[e.dataset.to])) e.classList.add("lit");
    });
    nodes[name].classList.add("picked");
    graph.classList.add("focus");
    info.textContent = name + ": reads " + (Object.keys(a).length - 1) + ", read by " + (Object.keys(d).length - 1) + " ";
    if (data.links[name]) {
      var link = document.createElement("a");
      link.href = root + data.links[name];
      link.textContent = "open its page";
      link.id = "open-picked";
      info.appendChild(link);
    }
  }
  Object.keys(nodes).forEach(function (name) {
    nodes[name].addEventListener("click", function () { if (!graph.dataset.dragged) pick(name); });
    nodes[name].addEventListener("dblclick", function () { if (data.links[name]) location.href = root + data.links[name]; });
    nodes[name].addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      if (nodes[name].classList.contains("picked") && data.links[name]) location.href = root + data.links[name];
      else pick(name);
    });
  });

  // Column lineage: the columns a column is computed from, back to the
  // sources, and those computed from it, in the layers of their relations.
  var cols = data.columns, users = {};
  Object.keys(cols).forEach(function (c) {
    cols[c].forEach(function (f) { (users[f] = users[f] || []).push(c); });
  });
  function relOf(c) { return c.slice(0, c.lastIndexOf(".")); }
  var colgraph = document.getElementById("colgraph"), colinfo = document.getElementById("colinfo");
  var colpick = document.getElementById("colpick");
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    parent.appendChild(e);
    return e;
  }
  function showColumn(col) {
    var vp = colgraph.querySelector(".viewport");
    while (vp.firstChild) vp.removeChild(vp.firstChild);
    if (!cols[col]) { colinfo.textContent = col ? "no model column " + col : ""; return; }
    colpick.value = col;
    var a = reach(col, cols), d = reach(col, users), set = {};
    Object.keys(a).concat(Object.keys(d)).forEach(function (c) { set[c] = true; });
    var layers = [];
    Object.keys(set).sort().forEach(function (c) {
      var l = data.layers[relOf(c)] || 0;
      (layers[l] = layers[l] || []).push(c);
    });
    var W = 260, H = 28, GX = 70, GY = 12, pos = {}, x = 20, height = 0;
    layers.forEach(function (layer) {
      if (!layer) return;
      layer.forEach(function (c, i) { pos[c] = { x: x, y: 20 + i * (H + GY) }; height = Math.max(height, 20 + (i + 1) * (H + GY) + 20); });
      x += W + GX;
    });
    Object.keys(set).forEach(function (c) {
      (cols[c] || []).forEach(function (f) {
        if (!set[f] || !pos[f]) return;
        var p = pos[f], q = pos[c], mid = (p.x + W + q.x) / 2;
        el("path", { "class": "edge", d: "M" + (p.x + W) + "," + (p.y + H / 2) + " C" + mid + "," + (p.y + H / 2) + " " + mid + "," + (q.y + H / 2) + " " + q.x + "," + (q.y + H / 2), "marker-end": "url(#arrow)" }, vp);
      });
    });
    Object.keys(pos).forEach(function (c) {
      var g = el("g", { "class": "node column" + (c === col ? " chosen" : ""), "data-name": c, transform: "translate(" + pos[c].x + "," + pos[c].y + ")" }, vp);
      el("title", {}, g).textContent = c;
      el("rect", { width: W, height: H, rx: 5 }, g);
      el("text", { x: 8, y: H / 2 + 5 }, g).textContent = c.length > 38 ? c.slice(0, 37) + "…" : c;
      g.addEventListener("click", function () { if (!colgraph.dataset.dragged && cols[c]) { location.hash = "column=" + c; } });
    });
    views.colgraph.size(x, height);
    colinfo.textContent = col + ": from " + (Object.keys(a).length - 1) + " columns, used by " + (Object.keys(d).length - 1);
    var shown = document.getElementById("colpanels");
    while (shown.firstChild) shown.removeChild(shown.firstChild);
    (data.panels[col] || []).forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = p;
      shown.appendChild(li);
    });
    document.getElementById("colpanelsnone").hidden = !!data.panels[col];
  }
  document.getElementById("colform").addEventListener("submit", function (ev) {
    ev.preventDefault();
    location.hash = "column=" + colpick.value.trim();
  });
  function fromHash() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h.indexOf("column=") === 0) {
      showColumn(h.slice(7));
      colgraph.scrollIntoView();
    } else if (h.indexOf("model=") === 0) {
      pick(h.slice(6));
    }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
