// On a member's site, beside the widget's <iframe data-campaign-widget>: sets each frame's
// height to what the widget says (postMessage from the frame's own origin only).
(function () {
  "use strict";
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.campaignWidget !== true || typeof data.height !== "number") return;
    document.querySelectorAll("iframe[data-campaign-widget]").forEach(function (frame) {
      if (frame.contentWindow === event.source && new URL(frame.src).origin === event.origin) {
        frame.style.height = Math.min(Math.max(data.height, 200), 4000) + "px";
      }
    });
  });
})();
