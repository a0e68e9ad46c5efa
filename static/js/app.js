// Behaviour for every page; no text or markup is made here (the server
// renders all of it, live regions included, through htmx).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    // The language switcher submits itself; its button is for no-JS only.
    document.querySelectorAll("[data-js-hide]").forEach(function (el) { el.hidden = true; });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // An error summary takes the focus so it is read and seen first.
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  });

  // Forms that destroy something ask first; the question is in the page.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // Copy buttons copy the value of the input they point at.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value); }
    var done = button.querySelector("[data-copied]");
    if (done) { done.hidden = false; }
  });

  // Menus close on a click elsewhere and on Escape.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) { closeMenus(event.target.closest("details.menu")); });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") closeMenus(null); });
})();
