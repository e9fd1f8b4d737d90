/* mirrorkit client-side rewriting, for replay of archived pages whose scripts run.
 *
 * Self-contained (no imports). Loaded into an archived page after
 *   window.__MK_REWRITE = {prefix: "/<bundle>/<timestamp><modifier>/", pageUrl: "<original URL>"}
 * it makes the URLs that page scripts set point into the archive, as pywb's wombat.js does:
 * prefix + absolute original URL. Covered: element src/href/srcset/poster/data/action properties
 * and setAttribute, HTML inserted with innerHTML/outerHTML/insertAdjacentHTML, style properties,
 * style attributes, <style> text and CSSOM rules with url(), FontFace sources, fetch, XHR,
 * EventSource, Worker, sendBeacon, history.pushState/replaceState; a MutationObserver catches
 * elements made any other way. URLs already in the archive, data:, blob:, javascript:, about:
 * and fragments stay as they are.
 */
(function () {
  "use strict";
  var cfg = window.__MK_REWRITE;
  if (!cfg || !cfg.prefix || window.__MK_REWRITE_ON) { return; }
  Object.defineProperty(window, "__MK_REWRITE_ON", {value: true});
  var here = location.origin;
  var prefixUrl = new URL(cfg.prefix, location.href);
  var prefixPath = prefixUrl.pathname;
  // The bundle's root ("/sample/"): anything under it is already in the archive.
  var bundleRoot = prefixPath.replace(/^(\/[^\/]*\/).*$/, "$1");
  var pageUrl = new URL(cfg.pageUrl);
  var KEEP = /^\s*(data:|blob:|javascript:|about:|mailto:|tel:|#)/i;

  // The original (live) base of the document: document.baseURI mapped back out of the archive.
  var IN_ARCHIVE = /^https?:\/\/[^\/]+\/[^\/]+\/[0-9]+[a-z_]*\/(https?:\/\/.*)$/i;
  function originalBase() {
    var m = IN_ARCHIVE.exec(document.baseURI || location.href);
    return m ? m[1] : pageUrl.href;
  }

  function rw(value) {
    if (value === null || value === undefined) { return value; }
    var s = String(value);
    if (s === "" || KEEP.test(s)) { return value; }
    var abs;
    try {
      abs = new URL(s, document.baseURI || location.href);
    } catch (e) { return value; }
    if (abs.origin === here) {
      if (abs.pathname.indexOf(bundleRoot) === 0) { return value; } // in the archive already
      // root-relative or relative to the replay page: it meant the original site
      try { abs = new URL(s, originalBase()); } catch (e) { return value; }
      if (abs.origin === here) { return value; }
    }
    if (!/^https?:$/.test(abs.protocol)) { return value; }
    return prefixUrl.origin === here ? prefixPath + abs.href : prefixUrl.href + abs.href;
  }

  function rwSrcset(value) {
    if (!value) { return value; }
    return String(value).split(/,(?=\s*\S)/).map(function (part) {
      var m = part.match(/^(\s*)(\S+)(.*)$/);
      return m ? m[1] + rw(m[2]) + m[3] : part;
    }).join(",");
  }

  var CSS_URL = /url\(\s*(['"]?)([^'")]*)\1\s*\)/gi;
  var CSS_IMPORT = /@import\s+(['"])([^'"]+)\1/gi;
  function rwCss(text) {
    if (!text || String(text).indexOf("url(") < 0 && String(text).indexOf("@import") < 0) {
      return text;
    }
    return String(text).replace(CSS_URL, function (all, q, u) {
      return "url(" + q + rw(u) + q + ")";
    }).replace(CSS_IMPORT, function (all, q, u) {
      return "@import " + q + rw(u) + q;
    });
  }

  function hookProp(proto, prop, fn) {
    if (!proto) { return; }
    var d = Object.getOwnPropertyDescriptor(proto, prop);
    if (!d || !d.set || !d.configurable) { return; }
    Object.defineProperty(proto, prop, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (v) { return d.set.call(this, fn(v)); }
    });
  }

  // -- element URL properties and attributes ---------------------------------------------------
  var URL_PROPS = [
    ["HTMLImageElement", "src"], ["HTMLImageElement", "srcset", rwSrcset],
    ["HTMLSourceElement", "src"], ["HTMLSourceElement", "srcset", rwSrcset],
    ["HTMLScriptElement", "src"], ["HTMLLinkElement", "href"], ["HTMLIFrameElement", "src"],
    ["HTMLFrameElement", "src"], ["HTMLMediaElement", "src"], ["HTMLVideoElement", "poster"],
    ["HTMLInputElement", "src"], ["HTMLEmbedElement", "src"], ["HTMLObjectElement", "data"],
    ["HTMLTrackElement", "src"], ["HTMLAnchorElement", "href"], ["HTMLAreaElement", "href"],
    ["HTMLFormElement", "action"], ["HTMLBaseElement", "href"]
  ];
  URL_PROPS.forEach(function (p) {
    var cls = window[p[0]];
    if (cls) { hookProp(cls.prototype, p[1], p[2] || rw); }
  });
  var URL_ATTRS = {src: rw, href: rw, poster: rw, data: rw, action: rw, background: rw,
                   srcset: rwSrcset, imagesrcset: rwSrcset, style: rwCss};
  function rwAttr(el, name, value) {
    var n = String(name).toLowerCase();
    var fn = URL_ATTRS[n];
    if (!fn || !(el instanceof Element)) { return value; }
    if (n === "data" && !(el instanceof HTMLObjectElement)) { return value; }
    if (n === "href" && el instanceof SVGElement) { return value; }
    return fn(value);
  }
  var setAttr = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttr.call(this, name, rwAttr(this, name, value));
  };
  var setAttrNS = Element.prototype.setAttributeNS;
  Element.prototype.setAttributeNS = function (ns, name, value) {
    var local = String(name).split(":").pop();
    var v = local === "href" ? rw(value) : rwAttr(this, local, value);
    return setAttrNS.call(this, ns, name, v);
  };

  // Elements already in a fragment (innerHTML, DOMParser, MutationObserver): fix in place.
  var SEL = "[src],[href],[srcset],[poster],[style],object[data],form[action],[background]";
  function fixElement(el) {
    if (!el || el.nodeType !== 1) { return; }
    for (var name in URL_ATTRS) {
      if (!Object.prototype.hasOwnProperty.call(URL_ATTRS, name) || !el.hasAttribute(name)) {
        continue;
      }
      var old = el.getAttribute(name);
      var fixed = rwAttr(el, name, old);
      if (fixed !== old) { setAttr.call(el, name, fixed); }
    }
    if (el.tagName === "STYLE") { fixStyleText(el); }
  }
  function fixTree(root) {
    if (!root) { return; }
    if (root.nodeType === 1) { fixElement(root); }
    if (root.querySelectorAll) {
      var all = root.querySelectorAll(SEL + ",style");
      for (var i = 0; i < all.length; i++) { fixElement(all[i]); }
    }
  }

  // HTML strings: parsed first in an inert <template>, rewritten there, then handed on.
  var tplInner = Object.getOwnPropertyDescriptor(Element.prototype, "innerHTML");
  function rwHtml(html) {
    var s = String(html);
    if (!/(src|href|srcset|poster|style|data|action)\s*=|url\(/i.test(s)) { return html; }
    var t = document.createElement("template");
    tplInner.set.call(t, s);
    fixTree(t.content);
    return tplInner.get.call(t);
  }
  ["innerHTML", "outerHTML"].forEach(function (prop) {
    var d = Object.getOwnPropertyDescriptor(Element.prototype, prop);
    if (!d || !d.set) { return; }
    Object.defineProperty(Element.prototype, prop, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (v) {
        if (this.tagName === "STYLE" || this.tagName === "SCRIPT") { return d.set.call(this, v); }
        return d.set.call(this, rwHtml(v));
      }
    });
  });
  var insertHtml = Element.prototype.insertAdjacentHTML;
  Element.prototype.insertAdjacentHTML = function (where, html) {
    return insertHtml.call(this, where, rwHtml(html));
  };
  var docWrite = Document.prototype.write;
  Document.prototype.write = function () {
    var args = Array.prototype.map.call(arguments, function (a) { return rwHtml(a); });
    return docWrite.apply(this, args);
  };

  // -- CSS: style properties, <style> text, CSSOM -------------------------------------------------
  var decl = CSSStyleDeclaration.prototype;
  ["background", "backgroundImage", "borderImage", "borderImageSource", "listStyle",
   "listStyleImage", "content", "cursor", "mask", "maskImage", "webkitMaskImage", "cssText",
   "filter", "shapeOutside"].forEach(function (prop) { hookProp(decl, prop, rwCss); });
  var setProperty = decl.setProperty;
  decl.setProperty = function (name, value, priority) {
    return setProperty.call(this, name, rwCss(value), priority);
  };
  function fixStyleText(el) {
    var text = el.textContent;
    var fixed = rwCss(text);
    if (fixed !== text) { textContent.set.call(el, fixed); }
  }
  var textContent = Object.getOwnPropertyDescriptor(Node.prototype, "textContent");
  Object.defineProperty(Node.prototype, "textContent", {
    configurable: true, enumerable: textContent.enumerable, get: textContent.get,
    set: function (v) {
      return textContent.set.call(this, this.nodeName === "STYLE" ? rwCss(v) : v);
    }
  });
  var sheet = CSSStyleSheet.prototype;
  var insertRule = sheet.insertRule;
  sheet.insertRule = function (rule, index) {
    return insertRule.call(this, rwCss(rule), index === undefined ? 0 : index);
  };
  if (sheet.addRule) {
    var addRule = sheet.addRule;
    sheet.addRule = function (selector, style, index) {
      return addRule.call(this, selector, rwCss(style), index);
    };
  }
  if (sheet.replace) {
    var replace = sheet.replace;
    sheet.replace = function (text) { return replace.call(this, rwCss(text)); };
  }
  if (sheet.replaceSync) {
    var replaceSync = sheet.replaceSync;
    sheet.replaceSync = function (text) { return replaceSync.call(this, rwCss(text)); };
  }

  // -- fonts --------------------------------------------------------------------------------------
  if (window.FontFace) {
    var NativeFontFace = window.FontFace;
    var Wrapped = function FontFace(family, source, descriptors) {
      var src = typeof source === "string" ? rwCss(source) : source;
      return new NativeFontFace(family, src, descriptors);
    };
    Wrapped.prototype = NativeFontFace.prototype;
    window.FontFace = Wrapped;
  }

  // -- network APIs and history -------------------------------------------------------------------
  var nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (input, init) {
      if (typeof Request !== "undefined" && input instanceof Request) {
        var to = rw(input.url);
        if (to !== input.url) { input = new Request(to, input); }
      } else {
        input = rw(input);
      }
      return nativeFetch.call(this, input, init);
    };
  }
  var xhrOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    var args = Array.prototype.slice.call(arguments);
    args[1] = rw(url);
    return xhrOpen.apply(this, args);
  };
  if (window.EventSource) {
    var NativeES = window.EventSource;
    window.EventSource = function EventSource(url, conf) { return new NativeES(rw(url), conf); };
    window.EventSource.prototype = NativeES.prototype;
  }
  if (window.Worker) {
    var NativeWorker = window.Worker;
    window.Worker = function Worker(url, opts) { return new NativeWorker(rw(url), opts); };
    window.Worker.prototype = NativeWorker.prototype;
  }
  if (navigator.sendBeacon) {
    var beacon = navigator.sendBeacon;
    navigator.sendBeacon = function (url, data) { return beacon.call(navigator, rw(url), data); };
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var native = History.prototype[name];
    History.prototype[name] = function (state, title, url) {
      if (url === undefined || url === null) { return native.call(this, state, title); }
      return native.call(this, state, title, rw(url));
    };
  });

  // -- the net: elements made any other way (DOMParser + adopt, cloned templates, ...) --------
  function start() {
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        if (r.type === "attributes") {
          fixElement(r.target);
        } else if (r.type === "characterData" || r.target.nodeName === "STYLE") {
          var st = r.target.nodeName === "STYLE" ? r.target : r.target.parentNode;
          if (st && st.nodeName === "STYLE") { fixStyleText(st); }
        } else {
          for (var i = 0; i < r.addedNodes.length; i++) { fixTree(r.addedNodes[i]); }
        }
      });
    }).observe(document.documentElement || document, {
      childList: true, subtree: true, characterData: true, attributes: true,
      attributeFilter: ["src", "href", "srcset", "poster", "style", "data", "action"]
    });
  }
  if (document.documentElement) { start(); } else {
    document.addEventListener("readystatechange", start, {once: true});
  }
})();
