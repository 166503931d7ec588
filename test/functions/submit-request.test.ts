/**
 * POST /builds' envelope, before the model: every malformed body is a 400 naming the field
 * and the reason, never a server error, however hostile its shape.
 */
import { describe, expect, it } from 'vitest';
import { joinPath } from '../../contract/field-errors.ts';
import { ProblemError } from '../../functions/lib/http.ts';
import { MAX_BODY_DEPTH, parseSubmitBody } from '../../functions/lib/submit-request.ts';

const RENDERED_AT = '2024-05-06T07:08:09Z';

function problemOf(body: unknown): { status: number; errors: { path: string; message: string }[] } {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    parseSubmitBody(Buffer.from(text), 10 * 1024 * 1024);
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    return { status: error.status, errors: [...(error.errors ?? [])] };
  }
  throw new Error('the body was accepted');
}

const withFiles = (files: Record<string, string>) => ({ bundle: { template: {}, files, renderedAt: RENDERED_AT } });

describe('POST /builds body', () => {
  it('refuses a body nested thousands deep with a 400, without recursing through it', () => {
    expect(problemOf(`${'['.repeat(3000)}${']'.repeat(3000)}`)).toEqual({
      status: 400,
      errors: [{ path: '', message: `nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays` }],
    });
    const deepTemplate = { bundle: { template: { variables: JSON.parse(`${'{"a":'.repeat(80)}1${'}'.repeat(80)}`) as unknown }, renderedAt: RENDERED_AT } };
    expect(problemOf(deepTemplate).status).toBe(400);
  });

  it('accepts a template nested as deep as real ones are', () => {
    const nested = JSON.parse(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`) as unknown;
    expect(() => parseSubmitBody(Buffer.from(JSON.stringify({ bundle: { template: { nested }, renderedAt: RENDERED_AT } })), 1e6)).not.toThrow();
  });

  it.each([
    ['.', 'no empty, "." or ".." segments'],
    ['./.', 'no empty, "." or ".." segments'],
    ['a//b', 'no empty, "." or ".." segments'],
    ['scripts/', 'no empty, "." or ".." segments'],
    ['a/../../etc/passwd', 'no empty, "." or ".." segments'],
    ['/etc/passwd', 'not absolute'],
    ['x'.repeat(256), 'longer than 255 bytes'],
  ])('refuses the bundle file name %j, naming it', (name, reason) => {
    const { status, errors } = problemOf(withFiles({ [name]: 'YQ==' }));
    expect(status).toBe(400);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe(joinPath('bundle.files', name));
    expect(errors[0]?.message).toContain(reason);
  });

  it('refuses a file that another file needs as its folder', () => {
    const { status, errors } = problemOf(withFiles({ a: 'YQ==', 'a/b': 'YQ==', 'c/d/e': 'YQ==', 'c/d': 'YQ==' }));
    expect(status).toBe(400);
    expect(errors).toEqual([
      { path: 'bundle.files.a', message: 'is a file, but "a/b" needs it to be a folder' },
      { path: 'bundle.files["c/d"]', message: 'is a file, but "c/d/e" needs it to be a folder' },
    ]);
  });

  it('accepts files side by side in nested folders', () => {
    const body = withFiles({ 'scripts/a.sh': 'YQ==', 'scripts/b.sh': 'YQ==', 'files/etc/motd': 'YQ==', '.hidden': 'YQ==', '..dots': 'YQ==' });
    expect(parseSubmitBody(Buffer.from(JSON.stringify(body)), 1e6).bundle.files).toHaveProperty(['..dots']);
  });
});
