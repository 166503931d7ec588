/**
 * GET /builds/{id}/log: the provisioning log the worker uploads to `logs/<buildId>.log`.
 * A log larger than a Lambda response can carry is answered with its end, where the
 * failure usually is, and says so in a header. Only for the caller's team (or an admin):
 * another team's build is answered 404.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { callerOf } from './lib/access.ts';
import { isAwsError, s3, sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { artifactsBucket, stateMachine } from './lib/config.ts';
import { logKey } from '../contract/bundle.ts';
import { httpHandler, pathParameter, ProblemError } from './lib/http.ts';

/** Lambda's response limit is 6 MB, JSON-escaped; leave room for the escaping. */
const MAX_LOG_BYTES = 4 * 1024 * 1024;

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const bucket = artifactsBucket();
  const buildId = pathParameter(event, 'id');
  const execution = await describeVisibleBuild(sfn(), machine, buildId, callerOf(event));
  const Key = logKey(buildId);
  let size: number;
  try {
    size = (await s3().send(new HeadObjectCommand({ Bucket: bucket, Key }))).ContentLength ?? 0;
  } catch (error) {
    if (!isAwsError(error, 'NotFound', 'NoSuchKey')) throw error;
    const when = execution.status === 'RUNNING' ? 'it is uploaded when provisioning ends' : 'the build ended before provisioning ran';
    throw new ProblemError(404, 'LogNotAvailable', `build ${buildId} has no log yet: ${when}`);
  }
  const truncated = size > MAX_LOG_BYTES;
  const object = await s3().send(new GetObjectCommand({ Bucket: bucket, Key, ...(truncated ? { Range: `bytes=${size - MAX_LOG_BYTES}-` } : {}) }));
  const text = (await object.Body?.transformToString('utf-8')) ?? '';
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      ...(truncated ? { 'x-log-truncated': `the first ${size - MAX_LOG_BYTES} of ${size} bytes are left out` } : {}),
    },
    body: text,
  };
});
