// Inside the signing widget's frame: tells the host page how tall the widget is, so that
// its embed.js sets the frame's height (no scrollbar). Nothing is read from the host.
(function () {
  "use strict";
  if (window.parent === window) return;
  function tell() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    window.parent.postMessage({ campaignWidget: true, height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.documentElement);
  window.addEventListener("load", tell);
  tell();
})();
