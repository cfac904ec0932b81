"use strict";
// Progressive enhancement only: the report reads fully without script.
(function () {
  var table = document.getElementById("findings-table");
  var filter = document.getElementById("filter");
  var status = document.getElementById("status-filter");
  function apply() {
    var text = (filter.value || "").toLowerCase();
    var want = status.value;
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var show = (!text || row.textContent.toLowerCase().indexOf(text) >= 0) &&
        (!want || row.getAttribute("data-status") === want);
      row.classList.toggle("hidden", !show);
    }
  }
  if (table && filter && status) {
    filter.addEventListener("input", apply);
    status.addEventListener("change", apply);
  }
  var sortables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(sortables, function (t) {
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        var body = t.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("data-sort") !== "asc";
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
