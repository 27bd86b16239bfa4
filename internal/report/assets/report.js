// Draws the charts described in #isobench-charts with Chart.js. Errors are
// shown on the page (#errors); body[data-charts-rendered] counts the charts
// drawn, so that a headless browser can check the report.
(function () {
  "use strict";
  var errors = document.getElementById("errors");
  window.addEventListener("error", function (e) { errors.textContent += "error: " + e.message + "\n"; });
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var emulatedColor = "#b22222";
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;

  function yAxis(spec) {
    return {
      type: spec.log ? "logarithmic" : "linear",
      beginAtZero: !spec.log,
      title: { display: true, text: spec.unit + (spec.log ? " (log scale)" : "") + (spec.better ? " — " + spec.better + " is better" : "") }
    };
  }

  function build(spec) {
    var title = { display: true, text: spec.title };
    if (spec.kind === "range") {
      var colors = spec.labels.map(function (l) { return l.indexOf("(EMULATED)") >= 0 ? emulatedColor : palette[0]; });
      return {
        type: "bar",
        data: {
          labels: spec.labels,
          datasets: [
            { type: "bar", label: spec.datasets[0].label, data: spec.datasets[0].data, backgroundColor: colors.map(function (c) { return c + "55"; }), borderColor: colors, borderWidth: 1 },
            { type: "line", label: spec.datasets[1].label, data: spec.datasets[1].data, showLine: false, pointStyle: "line", pointRadius: 14, pointBorderWidth: 3, borderColor: "#000", backgroundColor: "#000" }
          ]
        },
        options: { plugins: { title: title }, scales: { y: yAxis(spec) } }
      };
    }
    if (spec.kind === "stacked") {
      return {
        type: "bar",
        data: { labels: spec.labels, datasets: spec.datasets.map(function (d, i) { return { label: d.label, data: d.data, backgroundColor: palette[i % palette.length] }; }) },
        options: { plugins: { title: title }, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: spec.unit } } } }
      };
    }
    var datasets = spec.datasets.map(function (d, i) {
      var color = d.emulated ? emulatedColor : palette[i % palette.length];
      var dashed = spec.kind === "xy" && d.label.indexOf("MemAvailable") >= 0;
      return { label: d.label, data: d.data, borderColor: color, backgroundColor: color, borderDash: dashed ? [6, 4] : [], spanGaps: true, showLine: true };
    });
    if (spec.kind === "xy") {
      return {
        type: "scatter",
        data: { datasets: datasets },
        options: { plugins: { title: title }, scales: { x: { type: "linear", title: { display: true, text: "idle sandboxes" } }, y: { title: { display: true, text: spec.unit } } } }
      };
    }
    return {
      type: "line",
      data: { labels: spec.labels, datasets: datasets },
      options: { plugins: { title: title }, scales: { x: { title: { display: true, text: "sandboxes launched at once" } }, y: yAxis(spec) } }
    };
  }

  var specs = JSON.parse(document.getElementById("isobench-charts").textContent);
  var drawn = 0;
  specs.forEach(function (spec) {
    try {
      var chart = new Chart(document.getElementById(spec.id), build(spec));
      chart.draw();
      drawn++;
    } catch (e) {
      errors.textContent += "chart " + spec.id + ": " + e + "\n";
    }
  });
  document.body.setAttribute("data-charts-rendered", String(drawn));
  document.body.setAttribute("data-charts-total", String(specs.length));
})();
