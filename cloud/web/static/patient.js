// The patient page's charts: one per measured quantity, drawn with uPlot from the series API for the period the
// range switch chooses (every reading for 24 hours; beyond that the API's buckets, drawn as their mean with the
// spread from lowest to highest). The limits in force are shaded: green the normal range, yellow the range to
// watch. Each chart's data addresses and limits come from its data-* attributes; the switch's links also work
// without JavaScript (they reload the page with ?range=), and the page lists the newest values and the limits
// in words, so a chart is an addition for those who can see it.
(function () {
  "use strict";

  const GREEN = "rgba(30, 107, 53, 0.16)";
  const YELLOW = "rgba(242, 182, 0, 0.22)";
  const LINE = "#1b1f24";
  const SPREAD = "rgba(27, 31, 36, 0.14)";
  const HEIGHT = 220;
  const DAY_S = 86400;
  const charts = new Map();

  function limitOf(box, name) {
    const value = box.dataset[name];
    return value === undefined || value === "" ? null : Number(value);
  }

  function limits(box) {
    return {
      greenLow: limitOf(box, "greenLow"), greenHigh: limitOf(box, "greenHigh"),
      yellowLow: limitOf(box, "yellowLow"), yellowHigh: limitOf(box, "yellowHigh"),
    };
  }

  // Shade the values from `low` to `high` (null: the edge of the plot) across the plot area.
  function shade(u, low, high) {
    const top = u.valToPos(high === null ? u.scales.y.max : high, "y", true);
    const bottom = u.valToPos(low === null ? u.scales.y.min : low, "y", true);
    u.ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
  }

  function shadeLimits(found) {
    return (u) => {
      if (found.greenLow === null && found.greenHigh === null) {
        return;
      }
      const ctx = u.ctx;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      ctx.fillStyle = YELLOW;
      if (found.greenLow !== null) {
        shade(u, found.yellowLow, found.greenLow);
      }
      if (found.greenHigh !== null) {
        shade(u, found.greenHigh, found.yellowHigh);
      }
      ctx.fillStyle = GREEN;
      shade(u, found.greenLow, found.greenHigh);
      ctx.restore();
    };
  }

  // The y range: the readings and every limit, with a margin.
  function yRange(found) {
    const marks = Object.values(found).filter((value) => value !== null);
    return (u, min, max) => {
      const lowest = Math.min(min, ...marks);
      const highest = Math.max(max, ...marks);
      const pad = Math.max((highest - lowest) * 0.08, Math.abs(highest) * 0.05, 1);
      return [lowest - pad, highest + pad];
    };
  }

  // Room for the longest label of the y axis, measured in the axis' font.
  function labelWidth(u, values) {
    if (!values) {
      return 60;
    }
    u.ctx.save();
    u.ctx.font = u.axes[1].font[0];
    const widest = Math.max(...values.map((value) => u.ctx.measureText(value).width));
    u.ctx.restore();
    return Math.ceil(widest / window.devicePixelRatio) + 18;
  }

  function columns(kind, items) {
    if (kind === "raw") {
      return [items.map((item) => Date.parse(item.t) / 1000), items.map((item) => item.value)];
    }
    const middles = items.map((item) => (Date.parse(item.start) + Date.parse(item.end)) / 2000);
    return [middles, items.map((item) => item.mean), items.map((item) => item.min), items.map((item) => item.max)];
  }

  function options(box, period) {
    const locale = box.dataset.locale;
    const long = period.end - period.start > 2 * DAY_S;
    // A day's chart shows the time of day, a longer one the date: short labels that fit a phone.
    const time = new Intl.DateTimeFormat(locale, long
      ? { timeZone: "Europe/Oslo", day: "numeric", month: "short" }
      : { timeZone: "Europe/Oslo", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    const found = limits(box);
    const series = [{}, { label: box.dataset.label, stroke: LINE, width: 2, points: { show: true, size: 5, fill: LINE } }];
    if (period.kind === "buckets") {
      series.push({ stroke: SPREAD, width: 1, points: { show: false } }, { stroke: SPREAD, width: 1, points: { show: false } });
    }
    return {
      width: Math.max(box.clientWidth, 260),
      height: HEIGHT,
      legend: { show: false },
      scales: { x: { time: true, range: () => [period.start, period.end] }, y: { range: yRange(found) } },
      series: series,
      bands: period.kind === "buckets" ? [{ series: [3, 2], fill: SPREAD }] : [],
      axes: [
        { values: (u, splits) => splits.map((s) => time.format(new Date(s * 1000))), size: 40, space: 90 },
        { values: (u, splits) => splits.map((s) => decimal.format(s) + " " + box.dataset.unit), size: labelWidth },
      ],
      hooks: { drawClear: [shadeLimits(found)] },
    };
  }

  async function draw(box, key) {
    const period = JSON.parse(box.dataset.ranges)[key];
    const status = box.parentElement.querySelector(".chart-status");
    box.dataset.wanted = key;
    try {
      const response = await fetch(period.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const data = columns(period.kind, (await response.json()).items);
      if (box.dataset.wanted !== key) {
        return; // another period was chosen meanwhile
      }
      const previous = charts.get(box);
      if (previous) {
        previous.destroy();
        charts.delete(box);
      }
      status.textContent = data[0].length ? "" : box.dataset.empty;
      if (data[0].length) {
        charts.set(box, new uPlot(options(box, period), data, box));
      }
      box.dataset.points = String(data[0].length);
      box.dataset.drawn = key;
    } catch (error) {
      status.textContent = box.dataset.failed;
    }
  }

  function choose(key, boxes, links) {
    links.forEach((link) => {
      if (link.dataset.range === key) {
        link.setAttribute("aria-current", "true");
      } else {
        link.removeAttribute("aria-current");
      }
    });
    const address = new URL(window.location.href);
    address.searchParams.set("range", key);
    address.searchParams.delete("done");
    window.history.replaceState(null, "", address.pathname + address.search + "#charts");
    boxes.forEach((box) => draw(box, key));
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.uPlot) {
      return;
    }
    const boxes = Array.from(document.querySelectorAll(".patient-chart .chart"));
    const links = Array.from(document.querySelectorAll(".range-switch a[data-range]"));
    links.forEach((link) => link.addEventListener("click", (event) => {
      event.preventDefault();
      choose(link.dataset.range, boxes, links);
    }));
    boxes.forEach((box) => draw(box, box.dataset.range));
    window.addEventListener("resize", () => {
      charts.forEach((chart, box) => chart.setSize({ width: Math.max(box.clientWidth, 260), height: HEIGHT }));
    });
  });
})();
