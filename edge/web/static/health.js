// Health plots (uPlot): fps, dropped/rejected frames, outbox depth, temperature, memory, per-stage timings, over
// the telemetry the page samples (ui.history_s).
(function () {
  const box = document.getElementById("plots");
  const plots = {};
  const groups = [
    ["frames per second", ["fps"]],
    ["dropped / rejected frames", ["dropped", "rejected"]],
    ["outbox depth", ["outbox_depth"]],
    ["CPU temperature (°C)", ["cpu_temp_c"]],
    ["load, peak RSS (MB)", ["load1", "peak_rss_mb"]],
  ];
  const colours = ["#c33", "#36c", "#393", "#c90", "#939", "#099"];
  function plot(title, keys, data) {
    const series = [{}, ...keys.map((k, i) => ({ label: k, stroke: colours[i % colours.length], width: 2, spanGaps: true }))];
    const rows = [data.t, ...keys.map((k) => data[k] || data.t.map(() => null))];
    if (plots[title]) { plots[title].setData(rows); return; }
    const div = document.createElement("div"); div.className = "plot"; div.dataset.title = title; box.appendChild(div);
    plots[title] = new uPlot({ title, width: 560, height: 200, series }, rows, div);
  }
  async function refresh() {
    try {
      const data = await (await fetch("/api/health", { cache: "no-store" })).json();
      const stages = Object.keys(data).filter((k) => k.startsWith("stage."));
      for (const [title, keys] of [...groups, ["stage p50 (ms)", stages]]) {
        if (keys.length && keys.some((k) => (data[k] || []).some((v) => v !== null))) plot(title, keys, data);
      }
    } catch (e) { /* next time */ }
    setTimeout(refresh, 5000);
  }
  refresh();
})();
