// Builds READER.html: bundles src/main.js with esbuild (pinned in package-lock.json) and
// inlines it and the stylesheet into src/reader.html. Same inputs, same bytes: no dates, no
// absolute paths, no source maps in the output.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, '..', 'mirrorkit', 'reader', 'READER.html');
const version = process.env.MIRRORKIT_VERSION || JSON.parse(readFileSync(join(here, 'package.json'))).version;

const common = {
  bundle: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16.4'],
  minify: true,
  legalComments: 'inline',
  charset: 'utf8',
  write: false,
  absWorkingDir: here,
  logLevel: 'warning',
};
// The hashing worker is a bundle of its own, handed to the page as a string (started from a
// blob: URL, since a file:// page cannot load a sibling script).
const worker = await build({ ...common, entryPoints: [join(here, 'src', 'hashworker.js')] });
const result = await build({
  ...common,
  define: { __HASH_WORKER__: JSON.stringify(worker.outputFiles[0].text) },
  entryPoints: [join(here, 'src', 'main.js')],
});
// `</script` may not appear inside an inline script; in JS it can only be inside a string.
const js = result.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1');
const css = readFileSync(join(here, 'src', 'reader.css'), 'utf8');
const html = readFileSync(join(here, 'src', 'reader.html'), 'utf8')
  .replaceAll('{{VERSION}}', version)
  .replace('{{CSS}}', () => css)
  .replace('{{JS}}', () => js);
writeFileSync(out, html);
console.log(`${out}: ${Buffer.byteLength(html)} bytes`);
