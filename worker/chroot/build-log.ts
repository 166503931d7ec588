/**
 * A build's transcript: what each step did and every line the provisioners printed, each
 * with a timestamp, to the console (or the daemon's log) and to one file per build. It is a
 * transcript for people, like Packer's UI output, so it is plain text, not JSON; the file
 * outlives the build so that a failure's short error can point at the whole story.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { maskSensitive } from '../../model/index.ts';

export type LogSink = (line: string) => void;

export class BuildLog {
  readonly path: string;
  readonly #file: WriteStream;
  readonly #sink: LogSink;
  readonly #secrets: readonly string[];
  readonly #tail: string[] = [];
  static readonly TAIL_LINES = 20;

  constructor(path: string, options: { sink?: LogSink; secrets?: readonly string[] } = {}) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    this.#file = createWriteStream(path, { flags: 'a' });
    this.#sink = options.sink ?? ((line) => process.stderr.write(line + '\n'));
    this.#secrets = options.secrets ?? [];
  }

  /** A step of the engine: `==> mount-device: mounting /dev/loop3p1`. */
  step(step: string, message: string): void {
    this.#write(`==> ${step}: ${message}`);
  }

  warn(step: string, message: string): void {
    this.#write(`==> ${step}: WARNING: ${message}`);
  }

  /** One line a command printed, tagged with who printed it. */
  output(source: string, line: string): void {
    this.#write(`    ${source}: ${line}`);
  }

  /** The last lines written, for an error message that must stay short. */
  tail(lines = BuildLog.TAIL_LINES): string[] {
    return this.#tail.slice(-lines);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#file.end(resolve));
  }

  #write(text: string): void {
    const masked = maskSensitive(text, this.#secrets);
    const line = `${new Date().toISOString()} ${masked}`;
    this.#tail.push(masked);
    if (this.#tail.length > BuildLog.TAIL_LINES * 2) this.#tail.splice(0, BuildLog.TAIL_LINES);
    this.#file.write(line + '\n');
    this.#sink(line);
  }
}
