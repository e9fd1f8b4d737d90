// The River Diary: everything on the blog page is built here, as on many real blogs. The menu and
// posts come from JSON; more posts load when the reader scrolls to the end (infinite scroll) or
// presses "Older posts"; images are lazy; a stylesheet, a CSSOM rule and a web font (FontFace API)
// are added by script. The site's own URL is written absolutely, as many sites' scripts do.
(function () {
  "use strict";
  var SITE = "{{ORIGIN}}";
  var status = document.getElementById("blog-status");
  var observer = null;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) { e.textContent = text; }
    return e;
  }

  // Lazy images: half use the browser's loading=lazy, half an IntersectionObserver swapping
  // data-src into src when the image comes near the screen.
  var lazy = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        var img = entry.target;
        img.src = img.getAttribute("data-src");
        lazy.unobserve(img);
      }
    });
  }, {rootMargin: "100px"}) : null;

  function render(post, into) {
    var art = el("article", {"class": "post js-post", "data-post": String(post.id)});
    art.appendChild(el("h2", {}, post.title + " / " + post.title_zh));
    art.appendChild(el("p", {}, post.text));
    art.appendChild(el("p", {lang: "zh-Hans"}, post.text_zh));
    var img = document.createElement("img");
    img.alt = post.title;
    img.className = "js-image";
    if (post.lazy === "native" || !lazy) {
      img.loading = "lazy";
      img.src = SITE + post.image;
    } else {
      img.setAttribute("data-src", SITE + post.image);
      lazy.observe(img);
    }
    art.appendChild(img);
    into.appendChild(art);
  }

  function load(feed, into) {
    return fetch("../data/blog/" + feed).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (data) {
      data.posts.forEach(function (p) { render(p, into); });
      return data.next;
    });
  }

  // Infinite scroll: the sentinel at the end of the list loads the next feed when it shows.
  function watch(next) {
    if (!next) { if (observer) { observer.disconnect(); } return; }
    var sentinel = document.getElementById("more-sentinel");
    if (observer) { observer.disconnect(); }
    observer = new IntersectionObserver(function (entries) {
      if (!entries[0].isIntersecting) { return; }
      observer.disconnect();
      load(next, document.getElementById("posts")).then(function (after) {
        history.pushState({feed: next}, "", SITE + "blog/?feed=" + encodeURIComponent(next));
        watch(after);
      });
    });
    observer.observe(sentinel);
  }

  fetch("../data/blog/menu.json").then(function (r) { return r.json(); }).then(function (items) {
    var menu = document.getElementById("blog-menu");
    items.forEach(function (item) {
      menu.appendChild(el("a", {href: SITE + item.href, "class": "js-menu"}, item.en + " / " + item.zh));
    });
  });

  load("posts-1.json", document.getElementById("posts")).then(function (next) {
    status.textContent = "Latest posts / 最新文章";
    watch(next);
  }).catch(function () { status.textContent = "The posts could not be loaded. / 文章无法加载。"; });

  document.getElementById("older-posts").addEventListener("click", function () {
    var button = this;
    load("older.json", document.getElementById("older")).then(function () { button.remove(); });
  });

  // A stylesheet only this script names, with a background image.
  document.head.appendChild(el("link", {rel: "stylesheet", href: SITE + "css/blog-theme.css"}));
  // A rule added through the CSSOM (outerHTML does not show it), with a background image too.
  var style = document.createElement("style");
  document.head.appendChild(style);
  style.sheet.insertRule(".blog-footer { background: url(\"" + SITE + "img/blog/footer-bg.png\") repeat; min-height: 40px; }", 0);
  style.sheet.insertRule(".js-post h2 { font-family: \"Lantern Diary\", serif; }", 1);

  // A web font loaded through the FontFace API.
  if (window.FontFace && document.fonts) {
    var face = new FontFace("Lantern Diary", "url(" + SITE + "css/fonts/lantern-blog.woff2)");
    face.load().then(function (loaded) {
      document.fonts.add(loaded);
      document.documentElement.classList.add("diary-font");
    }).catch(function () {});
  }

  // Drafts sit under /private/, which robots.txt closes to crawlers: a polite capture skips it.
  fetch("../private/draft-posts.json").then(function (r) { return r.ok ? r.json() : null; })
    .catch(function () { return null; });

  // Live notes over a WebSocket: not archivable; the capture must not let it go direct.
  try {
    var ws = new WebSocket(SITE.replace(/^http/, "ws") + "ws/live");
    ws.onmessage = function (m) { document.getElementById("live-note").textContent = m.data; };
    ws.onerror = function () {};
  } catch (e) { /* no WebSocket here (an archived copy) */ }
})();
