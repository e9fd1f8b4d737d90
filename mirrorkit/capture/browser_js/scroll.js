() => {
  // One step down (most of a screen), so that lazy images and observers along the way all see
  // the viewport; says whether the bottom is reached (or scrolling no longer moves) and how big
  // the page is now.
  const e = document.scrollingElement || document.documentElement;
  const before = window.scrollY;
  window.scrollBy({top: Math.max(200, Math.floor((window.innerHeight || 600) * 0.9)), behavior: "instant"});
  const bottom = window.scrollY <= before || window.scrollY + window.innerHeight >= e.scrollHeight - 2;
  return [bottom, e.scrollHeight, document.getElementsByTagName("*").length];
}
