() => { const c = window.__mkLastClick; if (!c) return;
  if (document.documentElement.outerHTML.length === c.before && c.el.dataset) c.el.dataset.mkDone = "1"; }
