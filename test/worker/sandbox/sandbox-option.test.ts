/** The `sandbox` builder option: what a template may ask of its sandbox, with clear field errors. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTemplate, TemplateValidationError } from '../../../model/index.ts';

const templateDir = mkdtempSync(join(tmpdir(), 'ami-factory-sandbox-option-'));
const builder = { type: 'amazon-chroot', ami_name: 'sandbox-{{timestamp}}', source_ami: 'ami-0123456789abcdef0' };
const parse = (sandbox: unknown) => parseTemplate({ builders: [{ ...builder, sandbox }] }, { templateDir });

describe('the sandbox builder option', () => {
  it('is optional: the network is "egress" and the limits are left to the host', () => {
    expect(parseTemplate({ builders: [builder] }, { templateDir }).builder.sandbox).toEqual({ network: 'egress' });
  });

  it('takes limits and "none" for no network (numbers may be strings, as in Packer)', () => {
    expect(parse({ memory_mb: '512', max_processes: 100, cpu_weight: 50, network: 'none' }).builder.sandbox).toEqual({
      memory_mb: 512, max_processes: 100, cpu_weight: 50, network: 'none',
    });
  });

  it('names each bad field', () => {
    let error: unknown;
    try {
      parse({ memory_mb: 8, max_processes: 'many', cpu_weight: 0, network: 'host', privileged: true });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TemplateValidationError);
    const message = (error as Error).message;
    expect(message).toMatch(/builders\[0\]\.sandbox\.memory_mb: must be at least 64/);
    expect(message).toMatch(/builders\[0\]\.sandbox\.max_processes: must be a whole number/);
    expect(message).toMatch(/builders\[0\]\.sandbox\.cpu_weight: must be at least 1/);
    expect(message).toMatch(/builders\[0\]\.sandbox\.network: must be one of "egress", "none"/);
    expect(message).toMatch(/builders\[0\]\.sandbox.*privileged/);
  });
});
