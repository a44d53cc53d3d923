// The admin's autocomplete (select2) types into a search field it creates without a label:
// screen readers then announce an unnamed text box (axe-core: label, critical). Name every
// such field after the label of the select it stands for, including fields select2 creates
// later. A file, not inline code: the Content-Security-Policy forbids inline scripts.
"use strict";
(function () {
  function nameSearchFields() {
    document.querySelectorAll(".select2-search__field:not([aria-label])").forEach(function (field) {
      const container = field.closest(".select2-container");
      const select = container && container.previousElementSibling;
      const label = select && select.id && document.querySelector('label[for="' + select.id + '"]');
      const name = label ? label.textContent.replace(/\s*:\s*$/, "").trim() : "";
      field.setAttribute("aria-label", name ? "Rechercher : " + name : "Rechercher");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    nameSearchFields();
    new MutationObserver(nameSearchFields).observe(document.body, {childList: true, subtree: true});
  });
})();
