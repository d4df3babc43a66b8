// Show only the parameters of the chosen evaluator kind; without JavaScript every kind's
// fieldset shows, each under its own legend, and the server reads the chosen one.
(function () {
  "use strict";

  function init() {
    document.querySelectorAll("select[name=kind]").forEach(function (select) {
      const form = select.form;
      if (!form) return;
      const groups = form.querySelectorAll(".kind-params[data-kind]");
      function show() {
        groups.forEach(function (group) {
          group.hidden = group.getAttribute("data-kind") !== select.value;
        });
      }
      select.addEventListener("change", show);
      show();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
