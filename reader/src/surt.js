// SURT keys as mirrorkit/surt.py, pywb and cdxj-indexer build them, for binary search in the
// index. Covers what archived links need: case, www, default ports, dot segments, query order,
// percent-escapes, IDN hosts (through URL's own punycode).
const SAFE = new Set("!\"$&'()*+,-./:;<=>?@[\\]^_`{|}~");
const QUERY_SESSION = [
  /^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$/is,
  /^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$/is,
  /^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$/is,
  /^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$/is,
  /^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$/is,
];

function unquoteBytes(s) {
  // Percent-decoding on bytes (latin1 string in, latin1 string out), like unquote_to_bytes.
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function unescapeRepeatedly(s) {
  for (;;) {
    const d = unquoteBytes(s);
    if (d === s) return s;
    s = d;
  }
}

function escapeOnce(s) {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
        SAFE.has(ch)) out += ch;
    else out += '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function latin1(text) {
  // UTF-8 bytes of `text` as a latin1 string, so escapes work on bytes as in Python.
  return Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join('');
}

function normalizePath(path) {
  if (!path) return '/';
  const kept = [];
  for (const part of path.split('/').slice(1)) {
    if (part === '.') continue;
    if (part === '..') { if (kept.length) kept.pop(); else kept.push(part); } else kept.push(part);
  }
  let out = '/';
  if (kept.length) {
    for (const part of kept.slice(0, -1)) if (part) out += part + '/';
    out += kept[kept.length - 1];
  }
  return out;
}

export function surtKey(url) {
  if (!url) return '-';
  if (url.startsWith('filedesc')) return url;
  const raw = url.trim().replace(/[\n\r\t]/g, '');
  const m = /^(([a-zA-Z][a-zA-Z0-9+.-]*):)?((\/\/([^/?#]*))?([^?#]*)(\?([^#]*))?)?(#(.*))?$/s.exec(
    /^[a-zA-Z][a-zA-Z0-9+\-.]*:/.test(raw) ? raw : 'http://' + raw);
  if (!m) return url;
  const scheme = (m[2] || '').toLowerCase();
  const web = scheme.startsWith('http');
  let host = null, port = null;
  const netloc = (m[5] || '').replace(/:+$/, '');
  let path = m[6] || null;
  let query = m[8] || null;
  const hostinfo = netloc.slice(netloc.lastIndexOf('@') + 1);
  let portText = '';
  if (hostinfo.startsWith('[')) {
    const close = hostinfo.indexOf(']');
    host = hostinfo.slice(1, close < 0 ? undefined : close);
    portText = close < 0 ? '' : hostinfo.slice(close + 1).replace(/^:/, '');
  } else {
    const colon = hostinfo.indexOf(':');
    host = colon < 0 ? hostinfo : hostinfo.slice(0, colon);
    portText = colon < 0 ? '' : hostinfo.slice(colon + 1);
  }
  if (!web && !m[4]) host = null;  // urn:, dns: ...: no host, the rest is the path
  if (portText && host) {
    if (!/^\d+$/.test(portText) || Number(portText) > 65535) return url;
    port = Number(portText) || null;
  }
  if (query) query = escapeOnce(unescapeRepeatedly(latin1(query)));
  if (host) {
    host = unescapeRepeatedly(latin1(host));
    if (/[^\x00-\x7f]/.test(host)) {
      try {
        const text = new TextDecoder().decode(Uint8Array.from(host, (c) => c.charCodeAt(0)));
        host = new URL('http://' + text).hostname;
      } catch { /* keep it as it is */ }
    }
    host = host.toLowerCase();
    host = host.replace(/\.\./g, '.').replace(/^\.+|\.+$/g, '');
    try {
      // IPv4 in decimal, octal or one number: URL normalises them as inet_aton does.
      if (/^[0-9.x]+$/i.test(host)) host = new URL('http://' + host).hostname;
    } catch { /* not an address */ }
    host = escapeOnce(host).toLowerCase();
  }
  path = path !== null ? unescapeRepeatedly(latin1(path)) : null;
  if (host) path = normalizePath(path);
  path = path ? escapeOnce(path) : '';
  if (host) host = host.replace(/^www\d*\./, '');
  if (port === { http: 80, https: 443 }[scheme]) port = null;
  if (path) {
    path = path.toLowerCase();
    if (path.endsWith('/') && path.length > 1) path = path.slice(0, -1);
  }
  if (query) {
    for (const re of QUERY_SESSION) {
      const q = re.exec(query);
      if (q) query = q[2] ? q[1] + q[2] : q[1];
    }
    query = query.toLowerCase();
    if (query.length > 1) {
      query = query.split('&').map((a) => {
        const i = a.indexOf('=');
        return i < 0 ? [a] : [a.slice(0, i), a.slice(i + 1)];
      }).sort((a, b) => cmpTuple(a, b)).map((a) => a.join('=')).join('&');
    }
    query = query || null;
  } else query = null;
  let out = host ? host.split('.').reverse().join(',') + (port !== null ? ':' + port : '') + ')'
    : scheme + ':';
  if (path) out += path; else if (query !== null) out += '/';
  if (query !== null) out += '?' + query;
  // Back from latin1 bytes to text, as the index is UTF-8.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(
      Uint8Array.from(out, (c) => c.charCodeAt(0)));
  } catch { return out; }
}

function cmpTuple(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return a.length - b.length;
}
