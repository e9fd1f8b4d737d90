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
  window.open = function (url) { if (url) { try { popups.push(new URL(url, document.baseURI).href); } catch (e) {} } return null; };
})();
