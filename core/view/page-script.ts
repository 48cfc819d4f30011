// The script and style of the `graph view` page (plain browser JavaScript, inlined; the
// page's CSP admits the script by its hash). It draws the view with cytoscape, shows a
// node's or an edge's properties on hover, and, when live, polls the server once a second
// and applies what changed without reloading. Text goes in through textContent only.
// window.koView exposes the drawing (cy) for the browser test.

export const PAGE_STYLE = `
html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #1f2328; background: #fff; }
body { display: flex; flex-direction: column; }
header { flex: none; padding: 6px 12px; border-bottom: 1px solid #d0d7de; }
h1 { font-size: 15px; margin: 0; }
header p { margin: 2px 0 0; }
#note { color: #9a6700; font-weight: 600; }
#live { color: #57606a; }
#cy { flex: 1; position: relative; min-height: 0; }
#tip { position: absolute; z-index: 3; max-width: 520px; padding: 6px 8px; background: #fff; border: 1px solid #8c959f;
  border-radius: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.15); pointer-events: none; font-size: 12px; }
#tip table { border-collapse: collapse; }
#tip th { text-align: left; vertical-align: top; padding-right: 8px; color: #57606a; font-weight: normal; white-space: nowrap; }
#tip td { word-break: break-all; }
#tip .head { font-weight: 600; margin-bottom: 4px; }
`;

export const PAGE_SCRIPT = `
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var config = JSON.parse(document.getElementById("page-config").textContent);
  var state = { cy: null, view: data, updates: 0, errors: 0, violations: [] };
  window.koView = state;
  document.addEventListener("securitypolicyviolation", function (e) {
    state.violations.push(e.violatedDirective + " " + e.blockedURI);
  });

  var PALETTE = ["#0969da", "#1a7f37", "#bf3989", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#bc4c00", "#57606a", "#116329"];
  function colour(kind) {
    var h = 0;
    for (var i = 0; i < kind.length; i++) h = (h * 31 + kind.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  function elementsOf(view) {
    var nodes = view.nodes.map(function (n) {
      var space = n.label.indexOf(" ");
      return {
        group: "nodes",
        data: {
          id: n.key, kind: n.kind, label: n.label, hop: n.hop, props: n.properties,
          caption: space < 0 ? n.label : n.label.slice(0, space) + "\\n" + n.label.slice(space + 1),
          colour: colour(n.kind), target: n.key === view.target ? 1 : 0, placeholder: n.properties.observed === false ? 1 : 0
        }
      };
    });
    var edges = view.edges.map(function (e) {
      return { group: "edges", data: { id: e.id, source: e.from, target: e.to, rel: e.rel, props: e.properties } };
    });
    return nodes.concat(edges);
  }

  function layout() {
    // Rows by distance from the object, the object on top; rings when a row would be too
    // wide to read. Built in and deterministic: the same graph is drawn the same way.
    var cy = state.cy;
    cy.layout({
      name: "breadthfirst", roots: cy.nodes("[target = 1]"), directed: false, circle: cy.nodes().length > 40,
      spacingFactor: 1, nodeDimensionsIncludeLabels: true, animate: false, fit: true, padding: 40
    }).run();
  }

  function text(id, value) {
    var el = document.getElementById(id);
    el.textContent = value || "";
    el.hidden = !value;
  }

  function describe(view) {
    var target = view.nodes.filter(function (n) { return n.key === view.target; })[0];
    text("title", target ? target.label : view.target);
    text("summary", view.nodes.length + " nodes and " + view.edges.length + " edges within " + view.depth +
      (view.depth === 1 ? " hop" : " hops") + " (both directions; a Volume counts with its Pod). Hover a node or an edge for its properties.");
    text("note", view.capped ? "Capped: more than " + view.maxNodes + " nodes are within " + view.depth +
      " hops; the nearest " + view.maxNodes + " are shown. Lower --depth or raise --max-nodes to see more." : "");
  }

  function showTip(ele, event) {
    var tip = document.getElementById("tip");
    tip.textContent = "";
    var head = document.createElement("div");
    head.className = "head";
    head.textContent = ele.isNode() ? ele.data("label") : ele.data("rel") + ": " + ele.source().data("label") + " \\u2192 " + ele.target().data("label");
    tip.appendChild(head);
    var table = document.createElement("table");
    var props = ele.data("props") || {};
    var keys = Object.keys(props).sort();
    if (ele.isNode()) keys.unshift("key");
    keys.forEach(function (k) {
      var v = k === "key" && ele.isNode() ? ele.id() : props[k];
      var row = document.createElement("tr");
      var th = document.createElement("th");
      th.textContent = k;
      var td = document.createElement("td");
      td.textContent = Array.isArray(v) ? v.join(", ") : String(v);
      row.appendChild(th);
      row.appendChild(td);
      table.appendChild(row);
    });
    tip.appendChild(table);
    tip.hidden = false;
    var p = event.renderedPosition || { x: 0, y: 0 };
    var box = document.getElementById("cy").getBoundingClientRect();
    var x = Math.min(box.left + p.x + 14, window.innerWidth - tip.offsetWidth - 8);
    var y = Math.min(box.top + p.y + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  }

  state.cy = cytoscape({
    container: document.getElementById("cy"),
    elements: elementsOf(data),
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "background-color": "data(colour)", label: "data(caption)", "text-wrap": "wrap", "text-max-width": "160px",
        "font-size": 10, "text-valign": "bottom", "text-margin-y": 4, width: 22, height: 22, color: "#1f2328"
      } },
      { selector: "node[target = 1]", style: { width: 36, height: 36, "border-width": 4, "border-color": "#1f2328", "font-weight": "bold" } },
      { selector: "node[placeholder = 1]", style: { "background-opacity": 0.35, "border-width": 2, "border-style": "dashed", "border-color": "data(colour)" } },
      { selector: "edge", style: {
        width: 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f", "target-arrow-shape": "triangle", "curve-style": "bezier",
        label: "data(rel)", "font-size": 8, color: "#57606a", "text-rotation": "autorotate", "text-background-color": "#fff",
        "text-background-opacity": 0.8, "text-background-padding": 1
      } },
      { selector: "edge[rel ^= 'CAN_']", style: { "line-color": "#cf222e", "target-arrow-color": "#cf222e", "line-style": "dashed" } },
      { selector: ".hover", style: { "overlay-opacity": 0.12 } }
    ]
  });
  layout();
  describe(data);

  state.cy.on("mouseover tap", "node, edge", function (e) { e.target.addClass("hover"); showTip(e.target, e); });
  function hideTip() {
    state.cy.elements(".hover").removeClass("hover");
    document.getElementById("tip").hidden = true;
  }
  state.cy.on("mouseout", "node, edge", hideTip);
  // Leaving the drawing (for the header, or the window) hides it too.
  document.getElementById("cy").addEventListener("mouseleave", hideTip);

  function apply(view) {
    var want = elementsOf(view);
    var ids = {};
    want.forEach(function (w) { ids[w.data.id] = true; });
    var changed = false;
    state.cy.batch(function () {
      state.cy.elements().forEach(function (el) { if (!ids[el.id()] && el.inside()) { el.remove(); changed = true; } });
      var added = [];
      want.forEach(function (w) {
        var el = state.cy.getElementById(w.data.id);
        if (el.nonempty()) el.data(w.data);
        else added.push(w);
      });
      if (added.length > 0) { state.cy.add(added); changed = true; }
    });
    if (changed) layout();
    state.view = view;
    describe(view);
  }

  if (config.liveUrl) {
    var busy = false;
    var poll = function () {
      if (busy) return;
      busy = true;
      fetch(config.liveUrl, { cache: "no-store" })
        .then(function (r) {
          if (!r.ok) return r.text().then(function (t) { throw new Error(t || ("HTTP " + r.status)); });
          return r.json();
        })
        .then(function (view) {
          apply(view);
          state.updates++;
          text("live", "Live: read " + new Date().toLocaleTimeString() + ", every second.");
        })
        .catch(function (err) {
          state.errors++;
          text("live", "Live: the last read failed (" + err.message + "); retrying.");
        })
        .then(function () { busy = false; });
    };
    setInterval(poll, 1000);
  }
  state.ready = true;
})();
`;
