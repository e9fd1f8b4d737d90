(() => {
  const F = window.FontFace;
  const made = [];
  Object.defineProperty(window, "__mkFonts", {value: made});
  if (F) {
    const W = function (family, source, desc) {
      const face = new F(family, source, desc);
      made.push({face: face, family: family, source: source, desc: desc || {}});
      return face;
    };
    W.prototype = F.prototype;
    window.FontFace = W;
  }
  const popups = [];
  Object.defineProperty(window, "__mkPopups", {value: popups});
  window.open = function (url) {
    if (url) { try { popups.push(new URL(url, document.baseURI).href); } catch (e) {} }
    return null;
  };
  // At load, how many rules each linked sheet has: rules a script adds later are told apart.
  window.addEventListener("load", () => {
    for (const s of Array.from(document.styleSheets)) {
      const o = s.ownerNode;
      if (o && o.tagName === "LINK") { try { o.dataset.mkRules = String(s.cssRules.length); } catch (e) {} }
    }
  }, {once: true});
})();
