// Partner badge, loaded from the partner's own host (a "CDN" for the sample site).
(function () {
  var el = document.getElementById("partner-widget");
  if (el) { el.textContent = "In partnership with the Delta Legal Aid Network."; }
})();
