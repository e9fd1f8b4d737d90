([extra, perControl]) => {
  let sel = "button, [role=button], input[type=button]";
  if (extra) sel += ", " + extra;
  let found = null;
  for (const el of Array.from(document.querySelectorAll(sel))) {
    const n = Number(el.dataset.mkClicks || 0);
    if (n >= perControl || el.dataset.mkDone) continue;
    if (el.disabled || el.closest("a[href]")) continue;
    const form = el.closest("form");
    const type = (el.getAttribute("type") || (el.tagName === "BUTTON" ? "submit" : "")).toLowerCase();
    if (form && type === "submit" && !(extra && el.matches(extra))) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
    found = el; break;
  }
  if (!found) return false;
  found.dataset.mkClicks = String(Number(found.dataset.mkClicks || 0) + 1);
  const before = document.documentElement.outerHTML.length;
  found.scrollIntoView({block: "center"});
  found.click();
  window.__mkLastClick = {el: found, before: before};
  return true;
}
