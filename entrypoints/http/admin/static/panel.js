// The panel's few behaviours: local times, the dashboard chart, copy buttons, confirmations,
// sortable tables. No inline scripts (the pages' CSP allows only files from /admin/static).
(function () {
  "use strict";

  var timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.textContent = timeFormat.format(when);
      el.title = el.title + " · shown in " + zone;
      el.dataset.local = "1";
    });
  }

  // A chart of USD series given as exact decimal strings: drawn as numbers (the tables show
  // the exact amounts), with the exact string in the tooltip. ``series``: the data key of
  // each dataset and how it is drawn.
  function usdChart(root, id, series) {
    var canvas = root.querySelector("#" + id);
    var source = document.getElementById(id + "-data");
    if (!canvas || !source || canvas.dataset.drawn || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    canvas.dataset.drawn = "1";
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: series.map(function (s) { return Object.assign({ data: data[s.key].map(Number) }, s.drawn); })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return "$" + v; } } } },
        plugins: { tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + ": $" + data[series[c.datasetIndex].key][c.dataIndex];
        } } } }
      }
    });
  }

  var MONEY_SERIES = [
    { key: "customer_price_usd", drawn: { type: "bar", label: "Customer price (USD)", backgroundColor: "#7aa7e6" } },
    { key: "provider_cost_usd", drawn: { type: "bar", label: "Provider cost (USD)", backgroundColor: "#e6a07a" } },
    { key: "margin_usd", drawn: { type: "line", label: "Margin (USD)", borderColor: "#2f8f5b", backgroundColor: "#2f8f5b", tension: 0 } }
  ];
  var ECONOMICS_SERIES = [
    { key: "p50", drawn: { type: "bar", label: "Cost p50 (USD)", backgroundColor: "#f3c9ad" } },
    { key: "p95", drawn: { type: "bar", label: "Cost p95 (USD)", backgroundColor: "#e6a07a" } },
    { key: "p99", drawn: { type: "bar", label: "Cost p99 (USD)", backgroundColor: "#c9784c" } },
    { key: "max", drawn: { type: "bar", label: "Cost max (USD)", backgroundColor: "#8f4f2f" } },
    { key: "price", drawn: { type: "line", label: "Suggested price (USD)", borderColor: "#2f8f5b", backgroundColor: "#2f8f5b", showLine: false, pointRadius: 6 } }
  ];

  function sortTable(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    if (!body) return;
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var key = function (row) {
      var cell = row.children[index];
      if (!cell) return "";
      var raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
      var n = Number(raw.replace(/[$,\s%]/g, ""));
      return raw !== "" && !isNaN(n) ? n : raw.toLowerCase();
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function sortable(root) {
    root.querySelectorAll("table.sortable thead th").forEach(function (th) {
      if (th.dataset.sortable) return;
      th.dataset.sortable = "1";
      th.tabIndex = 0;
      th.title = "Sort";
      th.addEventListener("click", function () { sortTable(th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(th); });
    });
  }

  function init(root) {
    localTimes(root);
    usdChart(root, "money-chart", MONEY_SERIES);
    usdChart(root, "economics-chart", ECONOMICS_SERIES);
    sortable(root);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.dataset.copy);
    if (!field) return;
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Capture phase: runs before htmx's own submit handler, so a declined confirmation sends nothing.
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".menu-toggle");
    if (!toggle) return;
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = menu.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  document.addEventListener("DOMContentLoaded", function () {
    var top = document.querySelector(".top");
    if (top) top.classList.add("scripted");
    init(document);
  });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
