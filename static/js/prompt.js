// Prompt help on the generate form: a length counter, a hint when the
// prompt is too short to be good, and phrases that insert themselves.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var help = document.querySelector(".prompt-help");
    var box = document.querySelector("textarea[name=prompt]");
    if (!help || !box) return;
    var min = parseInt(help.dataset.hintLength, 10) || 60;
    var count = help.querySelector("[data-prompt-count]");
    var hint = help.querySelector("[data-prompt-hint]");
    function refresh() {
      var n = box.value.trim().length;
      count.textContent = n + " / " + box.maxLength;
      hint.hidden = n === 0 || n >= min;
    }
    help.addEventListener("click", function (event) {
      var phrase = event.target.dataset && event.target.dataset.phrase;
      if (!phrase) return;
      var text = box.value.trim();
      box.value = text ? text.replace(/[.,;]?$/, ", ") + phrase : phrase;
      box.focus();
      refresh();
    });
    box.addEventListener("input", refresh);
    refresh();
  });
})();
