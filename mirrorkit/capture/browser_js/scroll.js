async () => {
  // One step down (most of a screen), then one rendered frame, so that lazy images and
  // intersection observers along the way all see the viewport (their callbacks are queued
  // before our next command). Says whether the bottom is reached (or scrolling no longer moves)
  // and how big the page is now.
  const e = document.scrollingElement || document.documentElement;
  const before = window.scrollY;
  window.scrollBy({top: Math.max(200, Math.floor((window.innerHeight || 600) * 0.9)), behavior: "instant"});
  await new Promise((done) => { requestAnimationFrame(() => done()); setTimeout(done, 1000); });
  const bottom = window.scrollY <= before || window.scrollY + window.innerHeight >= e.scrollHeight - 2;
  return [bottom, e.scrollHeight, document.getElementsByTagName("*").length];
}
