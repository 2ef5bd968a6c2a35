// The alert page's chart: the readings of the alert's metric from the series API, drawn with uPlot, with the
// normal range as a shaded band. The page shows the same readings in a table, so the chart is an addition
// for those who can see it; without JavaScript the table remains.
(function () {
  "use strict";

  const BAND = "rgba(30, 107, 53, 0.14)";
  const LINE = "#1b1f24";

  function number(value) {
    return value === "" || value === undefined ? null : Number(value);
  }

  function drawBand(low, high) {
    return (u) => {
      if (low === null && high === null) {
        return;
      }
      const top = u.valToPos(high === null ? u.scales.y.max : high, "y", true);
      const bottom = u.valToPos(low === null ? u.scales.y.min : low, "y", true);
      const ctx = u.ctx;
      ctx.save();
      ctx.fillStyle = BAND;
      ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
      ctx.restore();
    };
  }

  function options(box, low, high) {
    const locale = box.dataset.locale;
    const time = new Intl.DateTimeFormat(locale, {
      timeZone: "Europe/Oslo", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    return {
      width: Math.max(box.clientWidth, 280),
      height: 260,
      legend: { show: false },
      scales: {
        x: { time: true, range: () => [Number(box.dataset.start), Number(box.dataset.end)] },
        y: {
          range: (u, min, max) => {
            const lowest = Math.min(min, low === null ? min : low);
            const highest = Math.max(max, high === null ? max : high);
            const pad = Math.max((highest - lowest) * 0.1, 1);
            return [lowest - pad, highest + pad];
          },
        },
      },
      series: [{}, { label: box.dataset.label, stroke: LINE, width: 2, points: { show: true, size: 6, fill: LINE } }],
      axes: [
        { values: (u, splits) => splits.map((s) => time.format(new Date(s * 1000))), size: 40, space: 110 },
        { values: (u, splits) => splits.map((s) => decimal.format(s) + " " + box.dataset.unit), size: 70 },
      ],
      hooks: { drawClear: [drawBand(low, high)] },
    };
  }

  async function draw(box) {
    const status = document.getElementById("chart-status");
    try {
      const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const page = await response.json();
      const xs = page.items.map((item) => Date.parse(item.t) / 1000);
      const ys = page.items.map((item) => item.value);
      if (!xs.length) {
        status.textContent = box.dataset.empty;
        return;
      }
      const low = number(box.dataset.low);
      const high = number(box.dataset.high);
      const chart = new uPlot(options(box, low, high), [xs, ys], box);
      box.dataset.points = String(ys.length);
      window.addEventListener("resize", () => chart.setSize({ width: Math.max(box.clientWidth, 280), height: 260 }));
    } catch (error) {
      status.textContent = box.dataset.failed;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("chart");
    if (box && window.uPlot) {
      draw(box);
    }
  });
})();
