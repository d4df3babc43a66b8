// Keyboard-first annotating: P pass, F fail, R reasoning, Enter save and next,
// J/K next/previous, S skip, 1-9 a label choice, Esc leaves a text box. One delegated listener, so it keeps
// working after htmx swaps the item panel.
(function () {
  "use strict";

  function panel() {
    var p = document.getElementById("annotate-panel");
    // A key pressed straight after a swap may beat htmx's settle step, which is when it
    // wires up new content; processing is idempotent, so make sure before acting.
    if (p && window.htmx) window.htmx.process(p);
    return p;
  }

  function isTyping(el) {
    if (!el || !el.matches) return false;
    return el.matches("textarea, select, input:not([type=radio]):not([type=checkbox]):not([type=hidden])") || el.isContentEditable;
  }

  function click(selector) {
    var p = panel();
    var el = p && p.querySelector(selector);
    if (el && !el.disabled) el.click();
    return !!el;
  }

  function choose(value) {
    var p = panel();
    var radio = p && p.querySelector("form.verdict input[name=passed][value=" + value + "]");
    if (radio && !radio.disabled) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function save() {
    var p = panel();
    var form = p && p.querySelector("form.verdict");
    if (!form || form.hasAttribute("data-readonly")) return;
    if (!form.querySelector("input[name=passed]:checked")) {
      var box = form.querySelector(".verdict-choice");
      if (box) box.classList.add("needs-choice");
    }
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  document.addEventListener("keydown", function (event) {
    if (!panel() || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (event.key === "Escape" && isTyping(target)) {
      target.blur();
      panel().focus();
      event.preventDefault();
      return;
    }
    if (event.key === "Enter") {
      if (event.shiftKey && target.tagName === "TEXTAREA") return; // a new line
      if (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY") return;
      if (target.closest && target.closest("form") && !target.closest("form.verdict")) return;
      event.preventDefault();
      save();
      return;
    }
    if (isTyping(target)) return;
    switch (event.key.toLowerCase()) {
      case "p":
        choose("pass");
        break;
      case "f":
        choose("fail");
        break;
      case "r": {
        var reasoning = panel().querySelector("#reasoning");
        if (reasoning && !reasoning.disabled) reasoning.focus();
        break;
      }
      case "j":
        click("[data-nav=next]");
        break;
      case "k":
        click("[data-nav=prev]");
        break;
      case "s":
        click("#skip-button");
        break;
      default: {
        // 1-9 pick the first categorical label's choice.
        var digit = parseInt(event.key, 10);
        var select = panel().querySelector("form.verdict select");
        if (isNaN(digit) || digit < 1 || !select || select.disabled || digit >= select.options.length) return;
        select.selectedIndex = digit;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
    event.preventDefault();
  });

  // After a swap the old focus is gone: focus the new panel so keys keep flowing and
  // screen readers announce the next item.
  document.addEventListener("htmx:afterSwap", function (event) {
    var p = panel();
    if (p && event.detail && event.detail.target && event.detail.target.id === "annotate-panel") {
      var error = p.querySelector("#verdict-error");
      p.focus({ preventScroll: false });
      if (!error) window.scrollTo({ top: 0 });
    }
  });
})();
