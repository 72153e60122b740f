// On a member's site, beside the widget's <iframe data-campaign-widget>: sets each frame's
// height to what the widget says (postMessage from the frame's own origin only). Asks each
// frame once on start: this script may load after the frame did.
(function () {
  "use strict";
  var frames = function () { return document.querySelectorAll("iframe[data-campaign-widget]"); };
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.campaignWidget !== true || typeof data.height !== "number") return;
    frames().forEach(function (frame) {
      if (frame.contentWindow === event.source && new URL(frame.src).origin === event.origin) {
        frame.style.height = Math.min(Math.max(data.height, 200), 4000) + "px";
      }
    });
  });
  frames().forEach(function (frame) {
    frame.contentWindow.postMessage({ campaignWidget: "height?" }, new URL(frame.src).origin);
  });
})();
