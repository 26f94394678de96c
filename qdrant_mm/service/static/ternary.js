// The weight simplex as an SVG heatmap, drawn like `qdrant-mm evaluate --plot` draws it:
// BLIP bottom left, CLIP bottom right, Interrogator on top; each grid weighting is the hexagon
// of the points nearer to it than to any other (clipped to the triangle), coloured by its value.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const SIDE = 500;
  const HEIGHT = (SIDE * Math.sqrt(3)) / 2;
  // viridis, 9 stops (matplotlib's colour map, sampled)
  const VIRIDIS = [
    [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
  ];

  function colour(t) {
    t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
    const x = t * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    const c = VIRIDIS[i].map((v, j) => Math.round(v + f * (VIRIDIS[i + 1][j] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function xy(w) {
    return [(w.clip + w.interrogator / 2) * SIDE, HEIGHT - w.interrogator * HEIGHT];
  }

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.append(node);
    return node;
  }

  function hexagon(w, step) {
    const [x, y] = xy(w);
    const r = (step * SIDE) / Math.sqrt(3);
    const pts = [];
    for (let i = 0; i < 6; i++) {
      const a = ((90 + 60 * i) * Math.PI) / 180;
      pts.push(`${(x + r * Math.cos(a)).toFixed(2)},${(y - r * Math.sin(a)).toFixed(2)}`);
    }
    return pts.join(" ");
  }

  // points: [{blip, clip, interrogator, value}]; onPick(weights) when a cell is clicked
  function draw(svg, points, step, metric, onPick) {
    svg.replaceChildren();
    const corners = [[0, HEIGHT], [SIDE, HEIGHT], [SIDE / 2, 0]];
    const tri = corners.map((p) => p.join(",")).join(" ");
    const defs = el("defs", {}, svg);
    const clip = el("clipPath", { id: "simplex-clip" }, defs);
    el("polygon", { points: tri }, clip);
    const grad = el("linearGradient", { id: "simplex-scale" }, defs);
    for (let i = 0; i <= 8; i++) {
      el("stop", { offset: `${i * 12.5}%`, "stop-color": colour(i / 8) }, grad);
    }
    const finite = points.filter((p) => Number.isFinite(p.value));
    const lo = Math.min(...finite.map((p) => p.value));
    const hi = Math.max(...finite.map((p) => p.value));
    const span = hi - lo || 1;
    const cells = el("g", { "clip-path": "url(#simplex-clip)" }, svg);
    let best = null;
    for (const p of finite) {
      const cell = el("polygon", {
        points: hexagon(p, step),
        fill: colour((p.value - lo) / span),
        stroke: colour((p.value - lo) / span),
        class: "cell",
      }, cells);
      const t = el("title", {}, cell);
      t.textContent =
        `${p.blip.toFixed(2)} / ${p.clip.toFixed(2)} / ${p.interrogator.toFixed(2)}: ` +
        `${metric} ${p.value.toFixed(4)}`;
      cell.addEventListener("click", () => onPick && onPick(p));
      if (!best || p.value > best.value) best = p;
    }
    el("polygon", { points: tri, fill: "none", stroke: "#333", "stroke-width": 1.5 }, svg);
    const labels = [["blip only", 0, HEIGHT + 22], ["clip only", SIDE, HEIGHT + 22],
      ["interrogator only", SIDE / 2, -12]];
    for (const [text, x, y] of labels) {
      el("text", { x, y, "text-anchor": "middle", "font-size": 15 }, svg).textContent = text;
    }
    // the colour scale
    el("rect", { x: 100, y: HEIGHT + 36, width: 300, height: 12, fill: "url(#simplex-scale)" }, svg);
    for (const [v, x, anchor] of [[lo, 100, "end"], [hi, 400, "start"]]) {
      const t = el("text", { x: x + (anchor === "end" ? -6 : 6), y: HEIGHT + 47, "text-anchor": anchor,
        "font-size": 13 }, svg);
      t.textContent = v.toFixed(3);
    }
    if (best) {
      const [bx, by] = xy(best);
      const star = el("text", { x: bx, y: by + 7, "text-anchor": "middle", "font-size": 22,
        fill: "#fde047", stroke: "#000", "stroke-width": 0.8, id: "mark-best" }, svg);
      star.textContent = "★";
    }
    el("rect", { id: "mark-saved", width: 14, height: 14, fill: "#fff", stroke: "#000",
      "stroke-width": 2, visibility: "hidden" }, svg);
    el("circle", { id: "mark-current", r: 8, fill: "#fff", stroke: "#dc244c",
      "stroke-width": 3, visibility: "hidden" }, svg);
    return { lo, hi, best };
  }

  function mark(svg, id, w) {
    const node = svg.querySelector(`#${id}`);
    if (!node || !w) return;
    const [x, y] = xy(w);
    if (node.tagName === "circle") {
      node.setAttribute("cx", x);
      node.setAttribute("cy", y);
    } else {
      node.setAttribute("x", x - 7);
      node.setAttribute("y", y - 7);
    }
    node.setAttribute("visibility", "visible");
  }

  window.qdrantTernary = { draw, mark, xy, colour };
})();
