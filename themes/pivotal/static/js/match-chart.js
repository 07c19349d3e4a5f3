// The match report's doughnut (domain sets): matched, unmatched, invalid, duplicates.
// Chart.js (UMD, window.Chart) draws on a canvas, which cannot read CSS variables, so the
// colours are read from the theme here and again whenever light/dark is switched.

const COLOURS = {
  matched: "--success",
  unmatched: "--warning",
  invalid: "--danger",
  duplicate: "--faint",
};

function themeColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function draw(canvas) {
  const Chart = window.Chart;
  if (!Chart || !canvas.isConnected) return;
  const slices = JSON.parse(canvas.dataset.chart || "[]");
  Chart.getChart(canvas)?.destroy();
  const total = slices.reduce((sum, slice) => sum + slice.value, 0);
  new Chart(canvas, {
    type: "doughnut",
    data: {
      labels: slices.map((slice) => slice.label),
      datasets: [
        {
          // An empty set still shows a ring, in the border colour.
          data: total ? slices.map((slice) => slice.value) : [1],
          backgroundColor: total
            ? slices.map((slice) => themeColour(COLOURS[slice.status]))
            : [themeColour("--border")],
          borderColor: themeColour("--surface"),
          borderWidth: 2,
        },
      ],
    },
    options: {
      cutout: "68%",
      animation: false,
      responsive: false,
      plugins: {
        legend: { display: false },
        tooltip: { enabled: total > 0 },
      },
    },
  });
  canvas.dataset.drawn = "1";
}

function drawAll() {
  document.querySelectorAll("canvas[data-chart]").forEach(draw);
}

drawAll();
// The report is swapped in by htmx when a job finishes; draw the new canvas.
document.addEventListener("htmx:afterSettle", drawAll);
document.addEventListener("pivotal:themechange", drawAll);
