"use strict";
// Progressive enhancement only: without script every row and section reads as written. With it,
// the findings table pages (100 rows at a time, so tens of thousands of rows never lay out at
// once), filters by search text, severity, status, account, rule and framework, sorts
// severities by severity, and keeps its filter in the address (#findings?severity=high&...),
// so a filtered view can be linked. Printing shows every matching row and opens every
// collapsed section, so the printout carries the evidence.
(function () {
  var PAGE = 100;
  function byId(id) { return document.getElementById(id); }
  function each(list, f) { Array.prototype.forEach.call(list, f); }

  // Generic sorting of every sortable table; a cell's data-sort (a number) wins over its text.
  function sortKey(cell) {
    var v = cell.getAttribute("data-sort");
    return v !== null ? parseFloat(v) : cell.textContent.trim();
  }
  function compare(x, y) {
    var nx = typeof x === "number" ? x : parseFloat(x);
    var ny = typeof y === "number" ? y : parseFloat(y);
    if (!isNaN(nx) && !isNaN(ny) && String(nx) === String(x).trim() && String(ny) === String(y).trim()) {
      return nx - ny;
    }
    return String(x).localeCompare(String(y));
  }
  function sortBy(t, col, desc) {
    each(t.tHead.rows[0].cells, function (h) { h.removeAttribute("data-order"); });
    t.tHead.rows[0].cells[col].setAttribute("data-order", desc ? "desc" : "asc");
    var body = t.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = compare(sortKey(a.cells[col]), sortKey(b.cells[col]));
      return desc ? -c : c;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
    return rows;
  }
  function sortable(t, onSorted) {
    each(t.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        var desc = th.getAttribute("data-order") === "asc";
        var rows = sortBy(t, col, desc);
        if (onSorted) { onSorted(rows, col, desc); }
      });
    });
  }

  var table = byId("findings-table");
  var controls = {
    text: byId("f-text"), severity: byId("f-severity"), status: byId("f-status"),
    account: byId("f-account"), rule: byId("f-rule"), framework: byId("f-framework")
  };
  var rows = table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
  var texts = null;
  var page = 0;
  var sorted = null;
  var frameworkRules = {};

  each(document.querySelectorAll("article.rule"), function (a) {
    (a.getAttribute("data-frameworks") || "").split("|").forEach(function (f) {
      if (!f) { return; }
      (frameworkRules[f] = frameworkRules[f] || {})[a.getAttribute("data-rule")] = true;
    });
  });
  function fill(select, values) {
    if (!select) { return; }
    values.sort().forEach(function (v) {
      var o = document.createElement("option");
      o.textContent = v;
      select.appendChild(o);
    });
  }
  function distinct(attr) {
    var seen = {};
    rows.forEach(function (r) { seen[r.getAttribute(attr)] = true; });
    return Object.keys(seen);
  }

  function state() {
    var s = {};
    Object.keys(controls).forEach(function (k) {
      if (controls[k] && controls[k].value) { s[k] = controls[k].value; }
    });
    return s;
  }
  function matches(row, i, s) {
    if (s.severity && row.getAttribute("data-severity") !== s.severity) { return false; }
    if (s.status && row.getAttribute("data-status") !== s.status) { return false; }
    if (s.account && row.getAttribute("data-account") !== s.account) { return false; }
    if (s.rule && row.getAttribute("data-rule") !== s.rule) { return false; }
    if (s.framework && !(frameworkRules[s.framework] || {})[row.getAttribute("data-rule")]) { return false; }
    if (s.text) {
      if (!texts) { texts = rows.map(function (r) { return r.textContent.toLowerCase(); }); }
      if (texts[i].indexOf(s.text.toLowerCase()) < 0) { return false; }
    }
    return true;
  }
  function apply(keepPage) {
    var s = state();
    var matching = [];
    rows.forEach(function (r, i) {
      r.classList.remove("shown", "match");
      if (matches(r, i, s)) { matching.push(r); }
    });
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = keepPage ? Math.min(page, pages - 1) : 0;
    var first = page * PAGE;
    matching.forEach(function (r, i) {
      r.classList.add("match");
      if (i >= first && i < first + PAGE) { r.classList.add("shown"); }
    });
    var info = byId("page-info");
    info.textContent = matching.length === 0 ? "No finding matches" :
      "Rows " + (first + 1) + "\u2013" + Math.min(first + PAGE, matching.length) + " of " +
      matching.length + (matching.length === rows.length ? "" : " matching") +
      " (page " + (page + 1) + " of " + pages + ")";
    byId("prev").disabled = page === 0;
    byId("next").disabled = page >= pages - 1;
    if (sorted) { s.sort = sorted; }
    var query = Object.keys(s).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(s[k]);
    }).join("&");
    if (query || location.hash.indexOf("#findings?") === 0) {
      try { history.replaceState(null, "", "#findings" + (query ? "?" + query : "")); } catch (e) { /* file: may refuse */ }
    }
  }

  if (table && controls.text) {
    // Rows are in the order the re-sorted table shows them; the sort is kept in the address as
    // sort=<column>.<asc|desc>, columns counted from 0.
    var resorted = function (r, col, desc) {
      rows = r;
      texts = null;
      sorted = col + "." + (desc ? "desc" : "asc");
      apply(false);
    };
    sortable(table, resorted);
    fill(controls.account, distinct("data-account"));
    fill(controls.rule, distinct("data-rule"));
    fill(controls.framework, Object.keys(frameworkRules));
    if (location.hash.indexOf("#findings?") === 0) {
      location.hash.slice("#findings?".length).split("&").forEach(function (pair) {
        var kv = pair.split("=");
        var key = decodeURIComponent(kv[0]), value = decodeURIComponent(kv[1] || "");
        var c = controls[key];
        if (c && kv.length === 2) { c.value = value; }
        var m = key === "sort" && /^(\d+)\.(asc|desc)$/.exec(value);
        if (m && +m[1] < table.tHead.rows[0].cells.length) {
          rows = sortBy(table, +m[1], m[2] === "desc");
          sorted = value;
        }
      });
    }
    Object.keys(controls).forEach(function (k) {
      controls[k].addEventListener(k === "text" ? "input" : "change", function () { apply(false); });
    });
    byId("prev").addEventListener("click", function () { page -= 1; apply(true); });
    byId("next").addEventListener("click", function () { page += 1; apply(true); });
    byId("filters").hidden = false;
    byId("pager").hidden = false;
    apply(false);
    document.documentElement.classList.add("paged");
  }
  each(document.querySelectorAll("table.sortable"), function (t) {
    if (t !== table) { sortable(t); }
  });

  // Printing opens what is collapsed, and closes it again afterwards.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    each(document.querySelectorAll("details:not([open])"), function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
