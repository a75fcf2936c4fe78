// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Fields that only matter for some answers of another field: hide them otherwise,
  // unless they hold text or an error (so nothing typed is ever hidden).
  function setupDepends() {
    document.querySelectorAll("[data-depends-on]").forEach(function (wrapper) {
      var control = document.getElementById(wrapper.getAttribute("data-depends-on"));
      if (!control) return;
      var values = (wrapper.getAttribute("data-depends-values") || "").split(" ");
      var own = wrapper.querySelector("input, textarea, select");
      function update() {
        var keep = values.indexOf(control.value) !== -1 ||
          wrapper.classList.contains("field--error") || (own && own.value.trim() !== "");
        wrapper.hidden = !keep;
      }
      control.addEventListener("change", update);
      update();
    });
  }

  // "Add another action": copy the last action row with the next index, emptied.
  function setupActionRows() {
    var button = document.querySelector("[data-add-action]");
    var rows = document.querySelector("[data-action-rows]");
    if (!button || !rows) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var all = rows.querySelectorAll("[data-action-row]");
      if (all.length >= 50) return;
      var last = all[all.length - 1];
      var copy = last.cloneNode(true);
      var next = all.length;
      copy.querySelectorAll("[id], [for], [name], [aria-describedby]").forEach(function (el) {
        ["id", "for", "name", "aria-describedby"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) el.setAttribute(attr, v.replace(/actions-\d+-/g, "actions-" + next + "-"));
        });
      });
      copy.querySelectorAll("input, textarea").forEach(function (el) { el.value = ""; });
      copy.querySelectorAll(".field__error").forEach(function (el) { el.remove(); });
      copy.querySelectorAll(".field--error").forEach(function (el) { el.classList.remove("field--error"); });
      var legend = copy.querySelector("legend");
      var firstLegend = last.querySelector("legend");
      if (legend && firstLegend) legend.textContent = firstLegend.textContent.replace(/\d+/, String(next + 1));
      rows.appendChild(copy);
      var first = copy.querySelector("textarea, input");
      if (first) first.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupDepends();
    setupActionRows();
  });
})();
