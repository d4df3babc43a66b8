// The team's slug follows its name ("Acme Support" -> "acme-support") until the slug is
// edited by hand; the server still checks it (lowercase letters, digits and hyphens).
(function () {
  "use strict";

  function slugify(text) {
    return text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50)
      .replace(/-+$/g, "");
  }

  function init() {
    const name = document.getElementById("id_name");
    const slug = document.getElementById("id_slug");
    if (!name || !slug || !slug.hasAttribute("data-from-name")) return;
    let edited = slug.value !== "" && slug.value !== slugify(name.value);
    slug.addEventListener("input", function () {
      edited = slug.value !== "";
    });
    name.addEventListener("input", function () {
      if (!edited) slug.value = slugify(name.value);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
