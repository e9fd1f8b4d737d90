() => { for (const s of Array.from(document.styleSheets)) { const o = s.ownerNode;
  if (o && o.tagName === "LINK") { try { o.dataset.mkRules = String(s.cssRules.length); } catch (e) {} } } }
