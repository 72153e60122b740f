// Keeps the signature counter live: asks count.json every 15 s while the page is visible.
(function () {
  "use strict";
  var blocks = document.querySelectorAll("[data-count-url]");
  if (!blocks.length || !window.fetch) return;
  var format = new Intl.NumberFormat("fr-FR");
  function refresh() {
    if (document.hidden) return;
    blocks.forEach(function (block) {
      fetch(block.getAttribute("data-count-url"), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          block.querySelector("[data-count]").textContent = format.format(data.signature_count);
          var bar = block.querySelector("progress");
          if (bar) bar.value = Math.min(data.signature_count, data.target);
        })
        .catch(function () { /* offline: keep the last figure */ });
    });
  }
  setInterval(refresh, 15000);
  document.addEventListener("visibilitychange", refresh);
})();
