() => { const e = document.scrollingElement || document.documentElement;
  window.scrollTo(0, e.scrollHeight); return [e.scrollHeight, document.querySelectorAll("*").length]; }
