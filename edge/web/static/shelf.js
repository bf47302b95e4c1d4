// The zone editor: the newest frame with the zones; click adds a corner to the selected zone, dragging a corner
// moves it. The zones go to the form's textarea as JSON (the server validates them and saves them to the config).
(function () {
  const canvas = document.getElementById("shelf");
  const ctx = canvas.getContext("2d");
  const text = document.getElementById("zones");
  const select = document.getElementById("zone-select");
  const fraction = canvas.dataset.units === "fraction";
  let zones = JSON.parse(text.value || "[]");
  let counts = {}, dragging = null;
  const img = new Image();

  const toPx = ([x, y]) => (fraction ? [x * canvas.width, y * canvas.height] : [x, y]);
  const fromPx = ([x, y]) => (fraction ? [+(x / canvas.width).toFixed(4), +(y / canvas.height).toFixed(4)] : [Math.round(x), Math.round(y)]);
  function sync() {
    text.value = JSON.stringify(zones);
    const keep = select.value;
    select.replaceChildren(...zones.map((z, i) => Object.assign(document.createElement("option"), { value: i, textContent: z.name })));
    if (keep !== "" && keep < zones.length) select.value = keep;
    draw();
  }
  function draw() {
    if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0);
    const u = Math.max(1, canvas.width / 400); // line and text sizes that stay visible on a scaled-down photo
    ctx.lineWidth = 2 * u; ctx.font = `${Math.round(16 * u)}px sans-serif`;
    zones.forEach((z, i) => {
      const sel = String(i) === select.value;
      ctx.strokeStyle = ctx.fillStyle = sel ? "#f50" : "#0af";
      ctx.beginPath();
      z.polygon.map(toPx).forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke();
      z.polygon.map(toPx).forEach(([x, y]) => ctx.fillRect(x - 4 * u, y - 4 * u, 8 * u, 8 * u));
      if (z.polygon.length) { const [x, y] = toPx(z.polygon[0]); ctx.fillText(`${z.name} ${counts[z.name] ?? ""}`, x + 6 * u, y + 18 * u); }
    });
  }
  function at(ev) {
    const r = canvas.getBoundingClientRect();
    return [((ev.clientX - r.left) * canvas.width) / r.width, ((ev.clientY - r.top) * canvas.height) / r.height];
  }
  canvas.addEventListener("mousedown", (ev) => {
    const [x, y] = at(ev);
    const reach = (10 * canvas.width) / canvas.getBoundingClientRect().width; // 10 screen pixels
    zones.forEach((z, i) => z.polygon.forEach((p, k) => {
      const [px, py] = toPx(p);
      if (Math.hypot(px - x, py - y) < reach) dragging = [i, k];
    }));
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!dragging) return;
    zones[dragging[0]].polygon[dragging[1]] = fromPx(at(ev)); sync();
  });
  canvas.addEventListener("mouseup", (ev) => {
    if (dragging) { dragging = null; return; }
    if (!zones.length) zones.push({ name: "zone-1", polygon: [] });
    if (select.value === "") select.value = "0";
    zones[+select.value].polygon.push(fromPx(at(ev))); sync();
  });
  select.addEventListener("change", draw);
  document.getElementById("zone-new").onclick = () => {
    const name = prompt("zone name", `zone-${zones.length + 1}`);
    if (name) { zones.push({ name, polygon: [] }); sync(); select.value = String(zones.length - 1); draw(); }
  };
  document.getElementById("zone-clear").onclick = () => { if (zones[+select.value]) zones[+select.value].polygon = []; sync(); };
  document.getElementById("zone-delete").onclick = () => { zones.splice(+select.value, 1); select.value = ""; sync(); };
  text.addEventListener("change", () => { try { zones = JSON.parse(text.value); sync(); } catch (e) { /* fixed before saving */ } });

  async function frame() {
    try {
      const info = await (await fetch("/api/live", { cache: "no-store" })).json();
      if (info.frame_id !== null) {
        counts = Object.fromEntries((info.zones || []).map((z) => [z.name, z.text.split(": ")[1]]));
        img.src = `/live.jpg?f=${info.frame_id}`; await img.decode();
        canvas.width = info.width; canvas.height = info.height; draw();
        document.getElementById("counts").replaceChildren(...(info.zones || []).map((z) => Object.assign(document.createElement("li"), { textContent: z.text })));
      }
    } catch (e) { /* next time */ }
    setTimeout(frame, 2000);
  }
  sync(); frame();
})();
