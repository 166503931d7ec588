/**
 * One build through the worker, driven by a real (moto) state machine: claimed, created in
 * the host's zone, provisioned in a chroot on a loop device over the local EBS store, its
 * log in S3, its snapshot and the AMI the workflow registered from it holding what the
 * provisioner wrote.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import { expectHostClean } from '../../support/host-state.ts';
import {
  makeTestWorker,
  readLog,
  startBuild,
  startTestFactory,
  waitForExecution,
  type TestFactory,
} from './factory.ts';

describeIfRoot('worker daemon: one build end to end', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('e2e');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('claims, provisions and reports a build; the volume, snapshot and AMI hold its work', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1c');
    await host.worker.start();
    const build = await startBuild(factory, 'e2e-1', [
      { type: 'shell', inline: ['echo "provisioned by the worker" > /etc/provisioned', 'echo provisioner-output-line'] },
    ]);
    const result = await waitForExecution(factory, build.executionArn);
    await host.worker.stop();

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output.claim).toMatchObject({ instanceId: host.instanceId, availabilityZone: 'us-east-1c', deviceName: '/dev/sdf' });
    const volumeId = result.output.volume?.volumeId ?? '';
    expect(result.output.volume?.availabilityZone).toBe('us-east-1c');
    expect(result.output.provision?.logKey).toBe(build.logKey);
    expect(Object.keys(result.output.provision?.timings ?? {})).toEqual(
      expect.arrayContaining(['fetch-bundle', 'find-volume', 'mount-device', 'provision', 'cleanup']),
    );

    const log = await readLog(factory, build.logKey);
    expect(log).toContain(`==> worker: build ${build.buildId}`);
    expect(log).toContain('provisioner-output-line');

    const volumeFile = factory.store.volumePath(volumeId);
    await withImageMounted(volumeFile, async (root) => {
      expect(await readFile(join(root, 'etc/provisioned'), 'utf8')).toBe('provisioned by the worker\n');
    });

    // The workflow's own AMI: its root is the new snapshot, and exports what the build wrote.
    const snapshotId = result.output.snapshot?.snapshotId ?? '';
    expect(result.output.amis).toMatchObject([{ region: 'us-east-1', accountId: factory.aws.accountId, snapshotIds: [snapshotId] }]);
    const imageId = result.output.amis?.[0]?.imageId ?? '';
    expect(imageId).toMatch(/^ami-/);
    const exported = join(factory.dir, 'exported.img');
    await factory.store.exportImage(imageId, exported);
    await withImageMounted(exported, async (root) => {
      expect(await readFile(join(root, 'etc/provisioned'), 'utf8')).toBe('provisioned by the worker\n');
    });

    await expectHostClean(host.host, [volumeFile]);
  });
});
