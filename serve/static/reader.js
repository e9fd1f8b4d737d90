/* mirrorkit reader page: keeps the banner and the address in step with the archived frame.
   The frame runs no script of ours (and, in safe mode, none at all): when it loads, ask the
   reader's server what the bundle's content origin last served to a navigating frame. */
(function () {
  "use strict";
  var body = document.body;
  var name = body.getAttribute("data-bundle");
  var opts = body.getAttribute("data-opts");
  var state = body.getAttribute("data-state");
  var frame = document.getElementById("mk-frame");
  var last = "";

  function update() {
    fetch("/_mk/at/" + encodeURIComponent(name), { cache: "no-store", credentials: "omit" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (d.state !== state) { location.reload(); return; }
        if (!d.url || d.ts + d.url === last) { return; }
        last = d.ts + d.url;
        var url = document.getElementById("mk-url");
        if (url) { url.textContent = d.url; }  // text only: never markup from the archive
        var when = document.getElementById("mk-captured");
        if (when) { when.textContent = d.captured; }
        var wide = document.getElementById("mk-when");
        if (wide) { wide.textContent = d.captured; }
        var base = "/" + name + "/" + (opts ? "~" + opts + "/" : "");
        var path = base + d.ts + "/" + d.url;
        try {
          // only ever an address of this bundle's reader pages ("../" in an archived URL
          // must not turn the address into another reader page)
          if (new URL(path, location.origin).pathname.indexOf(base) === 0) {
            history.replaceState(null, "", path);
          }
        } catch (e) { /* a URL the browser refuses */ }
        var back = document.getElementById("mk-back");
        if (back) { back.value = location.pathname + location.search; }
        document.title = (body.getAttribute("data-archived") || "") + ": " + d.url + " — mirrorkit";
      })
      .catch(function () { /* the reader stopped */ });
  }

  if (frame) { frame.addEventListener("load", update); }
  if (state === "verifying") { setInterval(update, 1500); }
})();
