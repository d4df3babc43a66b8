// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // <button data-copy="#input-id">Copy</button> copies the target's value or text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var text = "value" in target ? target.value : target.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else if (target.select) {
      target.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  });

  // Select the whole secret on focus so it can be copied by hand.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("input[data-select-on-focus]")) {
      event.target.select();
    }
  });

  // Ask before destructive actions: <form data-confirm="Revoke this key?">.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // A form that only scripts submit (the playground streams its runs): Enter does nothing.
  document.addEventListener("submit", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-no-submit")) {
      event.preventDefault();
    }
  }, true);

  // <input type="radio" name="kind" value="chat" data-shows-kind> shows the sections marked
  // data-kind-section="chat" (or a list, "text chat") and hides the other kinds' (the
  // prompt editor).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-shows-kind]")) return;
    document.querySelectorAll("[data-kind-section]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kind-section").split(" ").indexOf(input.value) < 0;
    });
  });

  // <details open data-collapse-narrow> (a filter form): closed at first on a phone, so the
  // results come first; a "Filters" summary opens it. Open elsewhere and without script.
  if (window.matchMedia && window.matchMedia("(max-width: 720px)").matches) {
    document.querySelectorAll("details[data-collapse-narrow]").forEach(function (box) {
      box.open = false;
    });
  }

  // The phone-width menu closes after a choice.
  document.addEventListener("click", function (event) {
    if (event.target.closest(".mainnav a")) {
      var toggle = document.getElementById("nav-toggle");
      if (toggle) toggle.checked = false;
    }
  });
})();
