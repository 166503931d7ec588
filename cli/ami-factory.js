#!/usr/bin/env node
// The `ami-factory` executable. Plain JavaScript on purpose: Node strips types from a .ts
// entry with a WASM transpiler it must first load (~40 ms of a 70 ms `--help`), while every
// module after this one comes from Node's compile cache (types already stripped, code already
// compiled; in the system's temporary directory, off with NODE_DISABLE_COMPILE_CACHE=1).
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./main.ts');
