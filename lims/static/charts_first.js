// Installation page: asks for the charts' data while the page is still loading, so the data
// does not wait for the deferred chart scripts (charts.js takes the answer as
// recyclabFirstSeries). A file of its own, run where it stands: the Content-Security-Policy
// runs no inline script.
"use strict";

(function firstSeries() {
  const grid = document.getElementById("sensor-charts");
  if (!grid) return;
  window.recyclabFirstSeries = fetch(grid.dataset.firstSeriesUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
})();
