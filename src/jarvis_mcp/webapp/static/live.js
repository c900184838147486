// Live /app: when the server says this person's data changed (Server-Sent Events on /app/events), re-read
// the page and swap in its fresh sections. Without JavaScript the page is the same, only not live.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  var status = document.getElementById("live-status");
  if (!main || !window.EventSource || !window.fetch) return;
  var topics = (main.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
  if (!topics.length) return;
  var timer = null;

  function refresh() {
    timer = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-section][id]").forEach(function (section) {
          var old = document.getElementById(section.id);
          // A section holding the focus (a half-typed form) is left alone until the next change.
          if (old && !old.contains(document.activeElement)) old.replaceWith(document.adoptNode(section));
        });
        if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { /* the next change tries again */ });
  }

  var source = new EventSource("/app/events");
  source.addEventListener("ready", function () {
    main.setAttribute("data-connected", "true");
    if (status) status.textContent = "Live: this page updates itself.";
  });
  source.addEventListener("change", function (event) {
    var change;
    try { change = JSON.parse(event.data); } catch (e) { return; }
    if (topics.indexOf(change.topic) < 0) return;
    if (timer === null) timer = setTimeout(refresh, 150);  // a burst of changes costs one re-read
  });
  source.onerror = function () { main.removeAttribute("data-connected"); };
})();
