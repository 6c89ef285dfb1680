// Builds action.js into a Wasm component with componentize-js's Node API
// (the `jco componentize` CLI fails here with a WASI path error).
//     node build.mjs [out.wasm]
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, 'lead_intake.wasm'));
const { component } = await componentize({
  sourcePath: resolve(here, 'action.js'),
  witPath: resolve(here, '../../../wit'),
  worldName: 'action',
  // robota gives actions no wasi:http (HTTP goes through the granted `http`
  // interface); stdio stays so console.error reaches the host's capped log.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
