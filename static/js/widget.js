// Inside the signing widget's frame: tells the host page how tall the widget is, so that
// its embed.js sets the frame's height (no scrollbar); and again whenever embed.js asks
// (it may start after this page loaded). Nothing is read from the host.
(function () {
  "use strict";
  if (window.parent === window) return;
  function tell() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    window.parent.postMessage({ campaignWidget: true, height: height }, "*");
  }
  window.addEventListener("message", function (event) {
    if (event.source === window.parent && event.data && event.data.campaignWidget === "height?") tell();
  });
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.documentElement);
  window.addEventListener("load", tell);
  tell();
})();
