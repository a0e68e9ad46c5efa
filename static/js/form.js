// The generate and batch forms: image slots only for the types that take
// them (with previews and drag and drop), and the cost on the submit
// button following model, resolution and batch size. Every word shown is
// in the page already; this only hides, shows and sets numbers.
(function () {
  "use strict";
  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-generate-form]");
    if (!form) return;
    var table = readJson("cost-table") || { models: {}, grid: {} };
    var limits = readJson("image-limits") || {};
    var field = function (name) { return form.querySelector("[name=" + name + "]"); };

    function cost() {
      var model = field("model"), resolution = field("resolution"), prompts = field("prompts");
      var cells = table.grid && model && table.grid[model.value];
      var chosen = (resolution && resolution.value) || "720p";
      var each = cells && cells[chosen] !== undefined
        ? cells[chosen]
        : table.models[model && model.value] || 0;
      var count = 1;
      if (prompts) {
        count = prompts.value.split("\n").filter(function (line) { return line.trim(); }).length;
      }
      var out = form.querySelector("[data-cost]");
      if (out) out.textContent = String(each * count);
    }

    function slots() {
      var kind = field("generation_type");
      var box = form.querySelector("[data-images]");
      if (!kind || !box) return;
      var limit = limits[kind.value] || 0;
      box.hidden = limit === 0;
      box.querySelectorAll("[data-slot]").forEach(function (slot) {
        slot.hidden = parseInt(slot.dataset.slot, 10) > limit;
      });
      box.querySelectorAll("[data-for-type]").forEach(function (el) {
        el.hidden = el.dataset.forType !== kind.value;
      });
    }

    function preview(slot, src) {
      var img = slot.querySelector("[data-preview]");
      if (!img) return;
      if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
      img.hidden = !src;
      if (src) { img.src = src; } else { img.removeAttribute("src"); }
    }

    form.querySelectorAll("[data-slot]").forEach(function (slot) {
      var file = slot.querySelector("input[type=file]");
      var link = slot.querySelector("input[type=url]");
      var kept = slot.querySelector("[data-kept]");
      if (file) {
        file.addEventListener("change", function () {
          if (file.files && file.files[0]) {
            var url = URL.createObjectURL(file.files[0]);
            preview(slot, url);
            slot.querySelector("[data-preview]").dataset.objectUrl = url;
            if (kept) kept.value = "";  // a new file replaces the kept one
          }
        });
      }
      if (link) {
        link.addEventListener("change", function () {
          if (/^https:\/\//.test(link.value.trim())) preview(slot, link.value.trim());
        });
      }
      slot.addEventListener("dragover", function (event) { event.preventDefault(); slot.classList.add("dragging"); });
      slot.addEventListener("dragleave", function () { slot.classList.remove("dragging"); });
      slot.addEventListener("drop", function (event) {
        event.preventDefault();
        slot.classList.remove("dragging");
        if (file && event.dataTransfer && event.dataTransfer.files.length) {
          file.files = event.dataTransfer.files;
          file.dispatchEvent(new Event("change"));
        }
      });
    });

    form.addEventListener("change", function () { cost(); slots(); });
    form.addEventListener("input", cost);
    cost();
    slots();
  });
})();
