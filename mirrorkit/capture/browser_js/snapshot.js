async () => {
  // The live DOM's links first (menus that scripts build), for the frontier.
  const links = [];
  for (const a of Array.from(document.querySelectorAll("a[href], area[href]"))) { if (a.href) links.push(a.href); }
  for (const f of Array.from(document.querySelectorAll("iframe[src], frame[src]"))) { if (f.src) links.push(f.src); }
  for (const u of (window.__mkPopups || [])) links.push(u);
  const extra = [];
  const ruleText = (sheet) => { try { return Array.from(sheet.cssRules).map(r => r.cssText).join("\n"); } catch (e) { return null; } };
  for (const el of Array.from(document.querySelectorAll("style"))) {
    const sheet = el.sheet; if (!sheet) continue;
    const now = ruleText(sheet); if (now === null) continue;
    let parsed = null;
    try { const s = new CSSStyleSheet(); s.replaceSync(el.textContent); parsed = Array.from(s.cssRules).map(r => r.cssText).join("\n"); } catch (e) {}
    if (parsed !== now) el.textContent = now;
  }
  for (const sheet of Array.from(document.styleSheets)) {
    const owner = sheet.ownerNode;
    if (!owner || owner.tagName !== "LINK") continue;
    // a linked sheet that script changed: its current rules are kept after it
    let count = -1; try { count = sheet.cssRules.length; } catch (e) { continue; }
    if (owner.dataset.mkRules && Number(owner.dataset.mkRules) !== count) extra.push(ruleText(sheet));
  }
  for (const sheet of (document.adoptedStyleSheets || [])) { const t = ruleText(sheet); if (t) extra.push(t); }
  const toDataUrl = async (buf) => {
    const blob = new Blob([buf]);
    return await new Promise((ok) => { const r = new FileReader(); r.onload = () => ok(r.result); r.readAsDataURL(blob); });
  };
  const q = (s) => JSON.stringify(String(s));
  for (const f of (window.__mkFonts || [])) {
    if (!document.fonts.has(f.face)) continue;
    let src = f.source;
    if (typeof src !== "string") { try { src = "url(" + q(await toDataUrl(src)) + ")"; } catch (e) { continue; } }
    let css = "@font-face { font-family: " + q(f.family) + "; src: " + src + ";";
    for (const [k, v] of Object.entries(f.desc)) {
      const name = {weight: "font-weight", style: "font-style", stretch: "font-stretch", display: "font-display", unicodeRange: "unicode-range"}[k];
      if (name) css += " " + name + ": " + v + ";";
    }
    extra.push(css + " }");
  }
  document.querySelectorAll("style[data-mirrorkit]").forEach(e => e.remove());
  if (extra.length) {
    const st = document.createElement("style");
    st.setAttribute("data-mirrorkit", "cssom");
    st.textContent = extra.join("\n");
    (document.head || document.documentElement).appendChild(st);
  }
  const dt = document.doctype;
  const doctype = dt ? "<!DOCTYPE " + dt.name + (dt.publicId ? ' PUBLIC "' + dt.publicId + '"' : "") + (dt.systemId ? ' "' + dt.systemId + '"' : "") + ">\n" : "";
  return {html: doctype + document.documentElement.outerHTML, title: document.title, links: links};
}
