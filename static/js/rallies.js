// Rally finder, rally and day pages: commune suggestions, « Me localiser », the map.
// Every page works without this script; it only adds to them.
(function () {
  "use strict";

  // Suggestions: fill the <datalist> as the person types (communes.json answers offline).
  function suggestions() {
    var list = document.getElementById("commune-suggestions");
    var url = list && list.getAttribute("data-suggest");
    var input = list && document.querySelector('input[list="commune-suggestions"]');
    if (!input || !url || !window.fetch) return;
    var timer = null;
    var last = "";
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (q.length < 2 || q === last || /^\d{1,4}$/.test(q)) return;
      last = q;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url + "?q=" + encodeURIComponent(q))
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (communes) {
            list.textContent = "";
            communes.forEach(function (c) {
              var option = document.createElement("option");
              option.value = c.label;
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a comfort: the form still works */ });
      }, 150);
    });
  }

  // « Me localiser »: the browser's position, sent as ?lat=&lon= to the same page.
  function locate() {
    var button = document.querySelector("[data-locate]");
    var status = document.querySelector("[data-locate-status]");
    if (!button || !navigator.geolocation) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = "Recherche de votre position…";
      navigator.geolocation.getCurrentPosition(
        function (position) {
          var form = button.form;
          window.location.href = form.action + "?lat=" + position.coords.latitude.toFixed(5) +
            "&lon=" + position.coords.longitude.toFixed(5);
        },
        function (error) {
          status.textContent = error.code === 1
            ? "Vous avez refusé la localisation : indiquez plutôt votre code postal."
            : "Position introuvable : indiquez plutôt votre code postal.";
        },
        { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 }
      );
    });
  }

  var COLOURS = { published: "#b3261e", past: "#777777", cancelled: "#222222" };

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  // The map: markers from carte.json. The page lists the same rallies in plain HTML.
  function map() {
    var element = document.getElementById("map");
    if (!element || !window.L || !window.fetch) return;
    element.hidden = false;
    var centre = element.hasAttribute("data-lat")
      ? [parseFloat(element.getAttribute("data-lat")), parseFloat(element.getAttribute("data-lon"))]
      : null;
    var leaflet = L.map(element, { scrollWheelZoom: false, zoomControl: false });
    L.control.zoom({ zoomInTitle: "Zoom avant", zoomOutTitle: "Zoom arrière" }).addTo(leaflet);
    L.tileLayer(element.getAttribute("data-tiles"), {
      maxZoom: 18,
      attribution: element.getAttribute("data-attribution")
    }).addTo(leaflet);
    leaflet.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    if (centre) {
      leaflet.setView(centre, parseInt(element.getAttribute("data-zoom"), 10) || 12);
    } else {
      leaflet.setView([46.6, 2.4], 5); // metropolitan France
    }
    fetch(element.getAttribute("data-markers"))
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (rallies) {
        rallies.forEach(function (rally) {
          var colour = COLOURS[rally.state] || COLOURS.published;
          L.circleMarker([rally.lat, rally.lon], {
            radius: 8, color: colour, fillColor: colour, fillOpacity: rally.state === "published" ? 0.8 : 0.3
          })
            .bindPopup('<a href="' + escapeHtml(rally.url) + '">' + escapeHtml(rally.city) + "</a><br>" +
              escapeHtml(new Date(rally.date + "T12:00:00").toLocaleDateString("fr-FR", { dateStyle: "long" })) +
              (rally.state === "cancelled" ? "<br><strong>Annulé</strong>" : ""))
            .addTo(leaflet);
        });
      })
      .catch(function () { element.hidden = true; });
  }

  function start() {
    suggestions();
    locate();
    map();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
