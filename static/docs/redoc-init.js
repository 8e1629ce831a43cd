// Starts Redoc from the data attributes of #redoc-container, so the page needs no inline script
// (the Content-Security-Policy allows scripts from this site only).
(function () {
  var container = document.getElementById("redoc-container");
  var options = JSON.parse(container.dataset.settings || "{}");
  Redoc.init(container.dataset.specUrl, options, container);
})();
