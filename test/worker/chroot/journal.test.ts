/** The undo journal: durable, newest first, and owned by a process identity. */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UndoJournal } from '../../../worker/chroot/journal.ts';

describe('UndoJournal', () => {
  it('records before changes, lists newest first, forgets settled ones, survives a reload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-journal-'));
    const journal = await UndoJournal.create(dir, 'b-1');
    const mount = { kind: 'unmount', mountPoint: '/m/loop1', chrootPath: '/m/loop1' } as const;
    const restore = { kind: 'restore-path', path: '/m/loop1/etc/resolv.conf', savedAs: null } as const;
    await journal.record({ kind: 'detach-image', imagePath: '/images/a.img' });
    await journal.record(mount);
    await journal.record(restore);
    await journal.settle(restore);
    expect(journal.pending.map((a) => a.kind)).toEqual(['unmount', 'detach-image']);

    const [reloaded] = await UndoJournal.listAll(dir);
    expect(reloaded?.journal?.buildId).toBe('b-1');
    expect(reloaded?.journal?.owner.pid).toBe(process.pid);
    expect(reloaded?.journal?.pending).toEqual([mount, { kind: 'detach-image', imagePath: '/images/a.img' }]);

    await journal.close();
    expect(await UndoJournal.listAll(dir)).toEqual([]);
  });

  it('reports an unreadable journal instead of skipping it silently', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-journal-'));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'broken.json'), '{ not json');
    const [found] = await UndoJournal.listAll(dir);
    expect(found?.journal).toBeUndefined();
    expect(found?.error).toMatch(/JSON/);
    expect(await readFile(join(dir, 'broken.json'), 'utf8')).toBe('{ not json');
  });
});
