// Run browser filters: hide rows whose data-* attributes do not match the selects.
(function () {
  "use strict";
  var selects = Array.prototype.slice.call(document.querySelectorAll("#filters select"));
  var text = document.getElementById("f-text");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tr.run"));
  var count = document.getElementById("shown-count");
  function apply() {
    var needle = text.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = selects.every(function (s) {
        return !s.value || row.getAttribute("data-" + s.getAttribute("data-col")) === s.value;
      });
      if (ok && needle) { ok = row.textContent.toLowerCase().indexOf(needle) >= 0; }
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  apply();
})();
