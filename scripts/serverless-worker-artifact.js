/**
 * The chroot hosts' worker artifact (`npm run package:worker`) in the deployment:
 *
 * - as a variable source, `${file(./scripts/serverless-worker-artifact.js):workerArtifactKey}`
 *   and `...:workerArtifactSha256`: where the hosts download it from (a key in the framework's
 *   deployment bucket) and the checksum their user data verifies. The key names the checksum,
 *   so a new artifact is a new launch template version. Offline: reads one file of .cache/.
 * - as a local plugin, after the framework uploads its own artifacts (`serverless deploy`,
 *   before the stack update that may launch hosts): uploads the tarball under that key.
 *   `serverless package` without an artifact only warns (its template's checksum is
 *   `unpackaged`, which no download matches); `serverless deploy` without one fails.
 *
 * The key lies outside `serverless/`, where the framework prunes old deployments.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const UNPACKAGED = 'unpackaged';

function artifact() {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const name = `ami-factory-worker-${version}.tgz`;
  const tarball = join(ROOT, '.cache', 'worker', name);
  const checksumFile = `${tarball}.sha256`;
  const sha256 = existsSync(tarball) && existsSync(checksumFile) ? readFileSync(checksumFile, 'utf8').split(/\s+/)[0] : UNPACKAGED;
  return { version, tarball, sha256 };
}

/** The object's key, under `ami-factory-worker/` of the deployment bucket. */
export function workerArtifactKey() {
  const { version, sha256 } = artifact();
  return `ami-factory-worker/ami-factory-worker-${version}-${sha256.slice(0, 16)}.tgz`;
}

export function workerArtifactSha256() {
  return artifact().sha256;
}

export default class WorkerArtifactPlugin {
  constructor(serverless, _options, { log }) {
    this.serverless = serverless;
    this.log = log;
    this.provider = serverless.getProvider('aws');
    this.hooks = {
      'before:package:finalize': () => {
        if (artifact().sha256 === UNPACKAGED) this.log.warning('no worker artifact in .cache/worker (npm run package:worker): hosts of this package cannot install');
      },
      'before:deploy:deploy': () => {
        if (artifact().sha256 === UNPACKAGED) throw new serverless.classes.Error('no worker artifact: run `npm run package:worker` before `serverless deploy`');
      },
      'after:aws:deploy:deploy:uploadArtifacts': () => this.upload(),
    };
  }

  async upload() {
    // Nothing changed since the last deploy: its artifact (same key, same checksum) is there.
    if (this.serverless.service.provider.shouldNotDeploy) return;
    const { tarball, sha256 } = artifact();
    const Bucket = await this.provider.getServerlessDeploymentBucketName();
    const Key = workerArtifactKey();
    await this.provider.request('S3', 'upload', {
      Bucket,
      Key,
      Body: createReadStream(tarball),
      ContentType: 'application/gzip',
      Metadata: { sha256 },
    });
    this.log.notice(`worker artifact uploaded to s3://${Bucket}/${Key}`);
  }
}
