// The live view: the newest frame with the app's overlay (boxes with track id and name, zones with counts),
// refreshed every data-refresh-ms.
(function () {
  const canvas = document.getElementById("live");
  const ctx = canvas.getContext("2d");
  const list = document.getElementById("objects");
  const every = parseInt(canvas.dataset.refreshMs, 10) || 250;
  const img = new Image();

  function draw(info) {
    canvas.width = info.width; canvas.height = info.height;
    ctx.drawImage(img, 0, 0);
    ctx.lineWidth = Math.max(2, info.width / 320); ctx.font = `${Math.max(14, info.width / 40)}px sans-serif`;
    const items = [];
    for (const z of info.zones || []) {
      ctx.strokeStyle = "#0af"; ctx.beginPath();
      z.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke();
      ctx.fillStyle = "#0af"; ctx.fillText(z.text, z.polygon[0][0] + 4, z.polygon[0][1] + 18);
      items.push(z.text);
    }
    for (const b of info.boxes || []) {
      const [x1, y1, x2, y2] = b.box;
      const label = b.label || `#${b.track_id}` + (b.name ? ` ${b.name}` : "");
      ctx.strokeStyle = b.name && b.name !== "unknown" ? "#2d2" : "#fc0";
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillStyle = ctx.strokeStyle; ctx.fillText(label, x1, Math.max(16, y1 - 4));
      items.push(`face ${label} [${b.box.map(Math.round).join(", ")}]`);
    }
    list.replaceChildren(...items.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
    document.getElementById("frame-id").textContent = `frame ${info.frame_id}`;
  }

  async function tick() {
    try {
      const info = await (await fetch("/api/live", { cache: "no-store" })).json();
      if (info.frame_id !== null) {
        img.src = `/live.jpg?f=${info.frame_id}`;
        await img.decode();
        draw(info);
      }
    } catch (e) { /* the device restarts or the frame was replaced meanwhile: try again */ }
    setTimeout(tick, every);
  }
  tick();
})();
