// Types of esbuild-plugins.js (plain JavaScript: serverless-esbuild require()s it).
import type { Plugin } from 'esbuild';

export declare function literalSchemaKeys(text: string): string;
export declare const awsSdkSchemaKeys: Plugin;
declare const plugins: Plugin[];
export default plugins;
