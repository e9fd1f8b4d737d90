() => {
  // One step down (most of a screen), so that lazy images and observers along the way all see
  // the viewport; says whether the bottom is reached and how big the page is now.
  const e = document.scrollingElement || document.documentElement;
  window.scrollBy(0, Math.max(200, Math.floor(window.innerHeight * 0.8)));
  const bottom = window.scrollY + window.innerHeight >= e.scrollHeight - 2;
  return [bottom, e.scrollHeight, document.getElementsByTagName("*").length];
}
