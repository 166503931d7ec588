import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  currentProcessIdentity,
  isProcessAlive,
  parseProcStat,
  readBootId,
  readProcStat,
} from '../../../worker/devices/process-identity.ts';

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis, whatever the command name holds', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    const text = `1234 (a) b (c d) ${fields.join(' ')}\n`;
    expect(parseProcStat(text)).toEqual({ state: 'S', startTime: 22 });
  });

  it('rejects text in another shape', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('isProcessAlive', () => {
  it('knows this process is alive and a pid with another start time is not', async () => {
    const me = await currentProcessIdentity();
    expect(await isProcessAlive(me)).toBe(true);
    expect(await isProcessAlive({ ...me, startTime: me.startTime + 1 })).toBe(false);
    expect(await isProcessAlive({ ...me, bootId: 'another-boot' })).toBe(false);
  });

  it('sees a SIGKILLed process as dead', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const pid = child.pid ?? -1;
      const stat = await readProcStat(pid);
      expect(stat).toBeDefined();
      const identity = { pid, startTime: stat?.startTime ?? -1, bootId: await readBootId() };
      expect(await isProcessAlive(identity)).toBe(true);
      child.kill('SIGKILL');
      await exited;
      expect(await isProcessAlive(identity)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
