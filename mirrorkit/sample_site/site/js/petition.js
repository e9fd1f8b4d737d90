// Shows the live signature count of the petition. The JSON sits next to the page, so the fetch uses
// a relative URL.
(function () {
  var out = document.getElementById("signature-count");
  fetch("data/signatures.json")
    .then(function (r) { return r.json(); })
    .then(function (data) {
      out.textContent = data.count.toLocaleString("en") + " people have signed (as of " + data.updated + ").";
    })
    .catch(function () { out.textContent = "The signature count is not available."; });
})();
