// The refine assistant's panel: send the template as it stands in the editor with each
// question, and "Apply" a proposal to it. Proposals are untrusted text: they are read
// from a textarea's value and written as a value, never as markup.
(function () {
  "use strict";
  if (window.__promptyardRefine) return; // loaded once, even if a page includes it twice
  window.__promptyardRefine = true;

  function targetOf(panel) {
    const selector = panel && panel.getAttribute("data-target");
    return selector ? document.querySelector(selector) : null;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    const panel = event.detail.elt.closest && event.detail.elt.closest("[data-refine-panel]");
    if (!panel) return;
    const target = targetOf(panel);
    if (target) event.detail.parameters.template = target.value;
    // In the playground, the last evaluation is the experiment whose failing rows to offer.
    const evaluated = document.querySelector("[data-evaluation-id]");
    if (evaluated && !event.detail.parameters.experiment) {
      event.detail.parameters.experiment = evaluated.getAttribute("data-evaluation-id");
    }
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-refine-apply]");
    if (!button) return;
    const panel = button.closest("[data-refine-panel]");
    const turn = button.closest("[data-turn]");
    const proposal = turn && turn.querySelector("[data-proposal]");
    const target = targetOf(panel);
    const status = turn && turn.querySelector("[data-apply-status]");
    if (!proposal || !target) {
      if (status) status.textContent = "Nothing to apply it to on this page.";
      return;
    }
    target.value = proposal.value;
    target.dispatchEvent(new Event("input", { bubbles: true }));
    target.dispatchEvent(new Event("change", { bubbles: true }));
    if (status) status.textContent = "Applied: the template now holds the proposal.";
  });
})();
