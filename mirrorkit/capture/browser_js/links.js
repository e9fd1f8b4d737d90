() => {
  // The same links the snapshot reads (snapshot.js), read early: the DOM is left untouched.
  const links = [];
  for (const a of Array.from(document.querySelectorAll("a[href], area[href]"))) { if (a.href) links.push(a.href); }
  for (const f of Array.from(document.querySelectorAll("iframe[src], frame[src]"))) { if (f.src) links.push(f.src); }
  for (const u of (window.__mkPopups || [])) links.push(u);
  return links;
}
