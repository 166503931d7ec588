/**
 * Dependencies point one way. contract/ (the shapes that cross the seams between API,
 * workflow and host) is at the bottom and imports nothing of ours; the request model (model/)
 * sits on it; functions/ and worker/ both use the two, and neither imports the other, so a
 * Lambda bundle never carries chroot code and a chroot host never carries API code. The
 * local factory (local/) composes them; the CLI (cli/) is the top, and nothing imports it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

async function sourceFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(repo, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) found.push(path);
  }
  return found;
}

/** Top-level folders that `dir`'s files import from (relative imports only). */
async function importedFolders(dir: string): Promise<Map<string, string[]>> {
  const folders = new Map<string, string[]>();
  for (const file of await sourceFiles(dir)) {
    const text = await readFile(join(repo, file), 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(repo, resolve(repo, dirname(file), match[1] ?? ''));
      const folder = target.split('/')[0] ?? '';
      folders.set(folder, [...(folders.get(folder) ?? []), `${file} -> ${target}`]);
    }
  }
  return folders;
}

describe('dependency direction', () => {
  it.each([
    ['contract', ['model', 'functions', 'worker', 'statemachine', 'local', 'cli']],
    ['model', ['functions', 'worker', 'statemachine', 'local', 'cli']],
    ['functions', ['worker', 'local', 'cli']],
    ['worker', ['functions', 'statemachine', 'local', 'cli']],
    ['statemachine', ['functions', 'worker', 'local', 'cli']],
    ['local', ['cli']],
  ])('%s/ imports nothing from %j', async (dir, forbidden) => {
    const folders = await importedFolders(dir);
    const offending = forbidden.flatMap((folder) => folders.get(folder) ?? []);
    expect(offending).toEqual([]);
  });
});
