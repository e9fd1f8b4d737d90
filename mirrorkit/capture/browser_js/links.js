() => { const out = [];
  for (const a of Array.from(document.querySelectorAll("a[href], area[href]"))) { if (a.href) out.push(a.href); }
  for (const f of Array.from(document.querySelectorAll("iframe[src], frame[src]"))) { if (f.src) out.push(f.src); }
  for (const u of (window.__mkPopups || [])) out.push(u);
  return out; }
