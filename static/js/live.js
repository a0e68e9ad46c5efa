// Live status for running jobs: polls each one's status.json and updates
// its progress bar and label in place; stops as soon as every job on the
// page is final. A finished video replaces the placeholder with a player.
(function () {
  "use strict";
  var FINAL = { succeeded: true, failed: true };
  var INTERVAL = 3000;

  function update(el, data) {
    el.dataset.status = data.status;
    var bar = el.querySelector("[data-progress]");
    if (bar) bar.style.width = data.progress + "%";
    var pct = el.querySelector("[data-progress-text]");
    if (pct) pct.textContent = data.progress + "%";
    var badge = el.querySelector("[data-status-label]");
    if (badge) { badge.textContent = data.status_label; badge.className = "badge " + data.status; }
    if (data.status === "succeeded" && data.video_url) {
      var media = el.querySelector("[data-media]");
      if (media) {
        media.innerHTML = "";
        var video = document.createElement("video");
        video.src = data.video_url; video.controls = true; video.preload = "metadata";
        if (data.poster_url) video.poster = data.poster_url;
        video.className = media.dataset.playerClass || "";
        media.appendChild(video);
      }
      var running = el.querySelector("[data-running]");
      if (running) running.remove();
    }
    if (data.status === "failed") {
      var err = el.querySelector("[data-error]");
      if (err) { err.textContent = data.error || "Failed"; err.hidden = false; }
      var media2 = el.querySelector("[data-media]");
      if (media2) media2.innerHTML = "<span>✕ Failed</span>";
      var running2 = el.querySelector("[data-running]");
      if (running2) running2.remove();
      var refund = el.querySelector("[data-refund-note]");
      if (refund) refund.hidden = false;
    }
  }

  function tick() {
    var pending = Array.prototype.filter.call(document.querySelectorAll("[data-status-url]"), function (el) {
      return !FINAL[el.dataset.status];
    });
    if (!pending.length) return; // nothing left to watch: stop polling
    Promise.all(pending.map(function (el) {
      return fetch(el.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) update(el, data); })
        .catch(function () {});
    })).then(function () { setTimeout(tick, INTERVAL); });
  }

  document.addEventListener("DOMContentLoaded", function () { setTimeout(tick, INTERVAL); });
})();
