// Playground: variants side by side, streamed runs, save as a new version (and tag).
// Model output is untrusted text: it is only ever written with textContent.
(function () {
  "use strict";

  const LABELS = "ABCD";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    const form = document.getElementById("playground-form");
    if (!form) return;
    const variantsBox = document.getElementById("variants");
    // Read the form's data-* with getAttribute: `form.dataset` is shadowed by the form's
    // own field named "dataset" (the dataset picker), as any named control shadows it.
    const runUrl = form.getAttribute("data-run-url");
    const saveUrl = form.getAttribute("data-save-url");
    const maxVariants = parseInt(form.getAttribute("data-max-variants") || "4", 10);
    const rowTemplate = document.getElementById("message-row-template");

    function variants() {
      return Array.from(variantsBox.querySelectorAll("[data-variant]"));
    }

    // Field names carry the variant's index (v0-template) so the variables view can read
    // every variant's template from one form post.
    function renumber() {
      variants().forEach(function (el, index) {
        const label = LABELS[index];
        el.querySelector("[data-label-text]").textContent = label;
        el.setAttribute("aria-label", "Variant " + label);
        el.querySelectorAll("[data-field]").forEach(function (field) {
          field.name = "v" + index + "-" + field.dataset.field;
          if (field.dataset.field === "label") field.value = label;
        });
        el.querySelector("[data-remove-variant]").hidden = variants().length === 1;
      });
      document.getElementById("add-variant").disabled = variants().length >= maxVariants;
    }

    function templatesChanged() {
      clearTimeout(templatesChanged.timer);
      templatesChanged.timer = setTimeout(function () {
        document.body.dispatchEvent(new CustomEvent("templates-changed"));
      }, 250);
    }

    function showKind(el) {
      const kind = el.querySelector('[data-field="kind"]').value;
      el.querySelectorAll("[data-kind]").forEach(function (box) {
        box.hidden = box.dataset.kind !== kind;
      });
      const fmt = el.querySelector('[data-field="response_format"]').value;
      el.querySelector("[data-json-schema]").hidden = fmt !== "json_schema";
    }

    // The closed settings' one-line summary: "demo-echo · t=0.2 · 256 tok".
    function summarize(el) {
      const value = function (name) {
        const field = el.querySelector('[data-field="' + name + '"]');
        return field ? field.value.trim() : "";
      };
      const chosen = value("provider_model").split("::").slice(1).join("::");
      const parts = [value("model_override") || chosen || "no model"];
      if (value("temperature")) parts.push("t=" + value("temperature"));
      if (value("max_tokens")) parts.push(value("max_tokens") + " tok");
      if (value("top_p")) parts.push("top_p=" + value("top_p"));
      if (value("response_format") && value("response_format") !== "text") {
        parts.push(value("response_format"));
      }
      el.querySelector("[data-settings-summary]").textContent = parts.join(" · ");
    }

    function addMessage(el, role) {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      if (role) row.querySelector('[data-field="msg_role"]').value = role;
      el.querySelector("[data-messages]").appendChild(row);
      renumber();
      return row;
    }

    variantsBox.addEventListener("input", function (event) {
      const field = event.target.dataset.field;
      if (["template", "msg_content", "msg_role", "kind"].includes(field)) templatesChanged();
      const el = event.target.closest("[data-variant]");
      if (el && event.target.closest(".variant-settings")) summarize(el);
    });
    variantsBox.addEventListener("change", function (event) {
      const el = event.target.closest("[data-variant]");
      if (!el) return;
      const field = event.target.dataset.field;
      if (field === "kind" || field === "response_format") showKind(el);
      if (event.target.closest(".variant-settings")) summarize(el);
      if (field === "kind") {
        if (event.target.value === "chat" && !el.querySelector("[data-message-row]")) {
          // Start the chat from the text template, so switching keeps the prompt.
          const row = addMessage(el, "user");
          row.querySelector('[data-field="msg_content"]').value =
            el.querySelector('[data-field="template"]').value;
        }
        templatesChanged();
      }
      if (field === "msg_role") templatesChanged();
    });
    variantsBox.addEventListener("click", function (event) {
      const button = event.target.closest("button");
      if (!button) return;
      const el = button.closest("[data-variant]");
      if (button.hasAttribute("data-add-message")) {
        addMessage(el, "user");
      } else if (button.hasAttribute("data-remove-message")) {
        button.closest("[data-message-row]").remove();
        renumber();
        templatesChanged();
      } else if (button.hasAttribute("data-remove-variant")) {
        if (variants().length > 1) el.remove();
        renumber();
        templatesChanged();
      } else if (button.hasAttribute("data-run-one")) {
        runVariants([el]);
      } else if (button.hasAttribute("data-save-toggle")) {
        const box = el.querySelector("[data-save-box]");
        box.hidden = !box.hidden;
        if (!box.hidden) box.querySelector('[data-save-field="commit_message"]').focus();
      } else if (button.hasAttribute("data-save")) {
        saveVariant(el);
      }
    });

    document.getElementById("add-variant").addEventListener("click", function () {
      const all = variants();
      if (all.length >= maxVariants) return;
      const source = all[all.length - 1];
      const copy = source.cloneNode(true);
      // cloneNode copies attributes, not the live values of selects and textareas.
      const from = source.querySelectorAll("select, textarea, input");
      const to = copy.querySelectorAll("select, textarea, input");
      from.forEach(function (field, i) {
        to[i].value = field.value;
      });
      copy.querySelector("[data-output]").textContent = "";
      copy.querySelector("[data-stats]").textContent = "";
      copy.querySelector("[data-error]").hidden = true;
      const saveResult = copy.querySelector("[data-save-result]");
      if (saveResult) saveResult.textContent = ""; // viewers have no save box
      variantsBox.appendChild(copy);
      renumber();
    });

    const runAll = document.getElementById("run-all");
    if (runAll) {
      runAll.addEventListener("click", function () {
        runVariants(variants());
      });
    }

    function csrfToken() {
      return form.querySelector("[name=csrfmiddlewaretoken]").value;
    }

    // The variant's own fields, un-prefixed, plus what every variant shares.
    function variantData(el) {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", csrfToken());
      data.append("version_id", form.querySelector("[name=version_id]").value);
      data.append("variables_schema", form.querySelector("[name=variables_schema]").value);
      form.querySelectorAll("#variables [name^='var-']").forEach(function (field) {
        data.append(field.name, field.value);
      });
      el.querySelectorAll("[data-field]").forEach(function (field) {
        data.append(field.dataset.field, field.value);
      });
      return data;
    }

    function formatStats(info) {
      const parts = [
        info.input_tokens + " in / " + info.output_tokens + " out tokens",
        info.latency_ms + " ms",
      ];
      parts.push(info.cost === null || info.cost === undefined
        ? "no price set"
        : "$" + Number(info.cost).toFixed(6));
      return parts.join(" · ");
    }

    function runVariants(list) {
      const batch = crypto.randomUUID ? crypto.randomUUID() : "";
      // Bring the answers into view (on a phone they sit below the variables).
      const top = list[0] && list[0].querySelector(".variant-answer");
      if (top) {
        const box = top.getBoundingClientRect();
        if (box.top < 0 || box.bottom > window.innerHeight) {
          list[0].scrollIntoView({ block: "start", behavior: "instant" });
        }
      }
      list.forEach(function (el) {
        runOne(el, batch);
      });
    }

    async function runOne(el, batch) {
      const output = el.querySelector("[data-output]");
      const stats = el.querySelector("[data-stats]");
      const error = el.querySelector("[data-error]");
      output.textContent = "";
      error.hidden = true;
      error.textContent = "";
      stats.textContent = "Running…";
      el.setAttribute("aria-busy", "true");
      el.dataset.chunks = "0";
      el.dataset.started = String(performance.now());
      const data = variantData(el);
      if (batch) data.append("batch", batch);
      try {
        const response = await fetch(runUrl, {
          method: "POST",
          body: data,
          headers: { "X-CSRFToken": csrfToken(), Accept: "text/event-stream" },
          credentials: "same-origin",
        });
        if (!response.ok || !response.body) {
          throw new Error(response.status === 403
            ? "You do not have permission to run prompts here."
            : "The server answered " + response.status + ".");
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let split;
          while ((split = buffer.indexOf("\n\n")) !== -1) {
            const block = buffer.slice(0, split);
            buffer = buffer.slice(split + 2);
            handleEvent(block, output, stats, error, el);
          }
        }
      } catch (exc) {
        error.textContent = "The run failed: " + exc.message;
        error.hidden = false;
        stats.textContent = "";
      } finally {
        el.removeAttribute("aria-busy");
      }
    }

    function handleEvent(block, output, stats, error, el) {
      let event = "message";
      const lines = [];
      block.split("\n").forEach(function (line) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) lines.push(line.slice(5).trimStart());
      });
      if (!lines.length) return;
      const payload = JSON.parse(lines.join("\n"));
      if (event === "chunk") {
        output.textContent += payload.text;
        // Live progress, so streaming is seen (and told apart from a stall).
        const chunks = Number(el.dataset.chunks || 0) + 1;
        el.dataset.chunks = String(chunks);
        const seconds = (performance.now() - Number(el.dataset.started || 0)) / 1000;
        stats.textContent = "Streaming… " + chunks + " chunk" + (chunks === 1 ? "" : "s") +
          " in " + seconds.toFixed(1) + " s";
      } else if (event === "done") {
        stats.textContent = formatStats(payload);
        el.dataset.runId = payload.run_id;
      } else if (event === "error") {
        stats.textContent = "";
        error.textContent = payload.message;
        error.hidden = false;
      }
    }

    async function saveVariant(el) {
      const result = el.querySelector("[data-save-result]");
      const data = variantData(el);
      el.querySelectorAll("[data-save-field]").forEach(function (field) {
        data.append(field.dataset.saveField, field.value);
      });
      // The last evaluation on the page is the evidence a promotion request cites.
      const evaluated = document.querySelector("[data-evaluation-id]");
      if (evaluated) data.append("evidence", evaluated.getAttribute("data-evaluation-id"));
      result.textContent = "Saving…";
      result.className = "";
      try {
        const response = await fetch(saveUrl, {
          method: "POST",
          body: data,
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
          credentials: "same-origin",
        });
        const body = await response.json();
        result.textContent = body.message;
        result.className = body.ok ? "msg-success" : "msg-error";
        if (body.ok && body.url) {
          const link = document.createElement("a");
          link.href = body.url;
          link.textContent = " Open it";
          result.appendChild(link);
        }
        if (body.ok && body.promotion_url) {
          const promote = document.createElement("a");
          promote.href = body.promotion_url;
          promote.className = "btn btn-small";
          promote.setAttribute("data-promotion-link", "");
          promote.textContent = "Request promotion";
          result.appendChild(document.createTextNode(" "));
          result.appendChild(promote);
        }
      } catch (exc) {
        result.textContent = "Saving failed: " + exc.message;
        result.className = "msg-error";
      }
    }

    variants().forEach(showKind);
    variants().forEach(summarize);
    renumber();
  });
})();
