// The admin commands as processes against a running server: enrollment token, push certificate
// import, device listing — and the enrollment profile then carries the imported topic.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProfileBytes } from '../../src/plist/mobileconfig.ts';
import { runCli, startServer } from '../support/server-process.ts';
import type { Started } from '../support/server-process.ts';

const TOKEN = 'cli-admin-token-0123456789abcdefghij';
const TOPIC = 'com.apple.mgmt.External.2f8a9c10-cli-test';

const run = promisify(execFile);
const lockwarden = runCli;

describe('admin commands over the REST API', () => {
  let server: Started;
  let dir: string;
  const as = (...args: string[]) => [...args, '--server', server.url, '--token', TOKEN];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockwarden-admin-cli-'));
    server = await startServer({ LOCKWARDEN_DATA_DIR: join(dir, 'data'), LOCKWARDEN_ADMIN_TOKEN: TOKEN, LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('imports a push certificate (.p12) whose UID becomes the topic, and refuses a non-MDM one', async () => {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/UID=${TOPIC}/CN=APSP:cli-test`, '-keyout', join(dir, 'push.key'), '-out', join(dir, 'push.pem')]);
    await run('openssl', ['pkcs12', '-export', '-in', join(dir, 'push.pem'), '-inkey', join(dir, 'push.key'), '-passout', 'pass:secret', '-out', join(dir, 'push.p12')]);
    const imported = await lockwarden(as('push-certificate', 'import', '--p12', join(dir, 'push.p12'), '--password', 'secret'));
    expect(imported.stdout).toContain(`topic ${TOPIC}`);
    expect(imported.code).toBe(0);

    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/UID=com.example.not-mdm/CN=x', '-keyout', join(dir, 'bad.key'), '-out', join(dir, 'bad.pem')]);
    const refused = await lockwarden(as('push-certificate', 'import', '--cert', join(dir, 'bad.pem'), '--key', join(dir, 'bad.key')));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('422');
  });

  it('creates an enrollment token whose URL serves a profile with that topic', async () => {
    const created = await lockwarden(as('enrollment-token', 'create', '--label', 'CLI test', '--max-uses', '2', '--json'));
    expect(created.code).toBe(0);
    const { token, enrollUrl } = JSON.parse(created.stdout) as { token: string; enrollUrl: string };
    expect(enrollUrl).toBe(`https://mdm.example.com/mdm/enroll?token=${token}`);
    const profile = await fetch(`${server.url}/mdm/enroll?token=${encodeURIComponent(token)}`);
    expect(profile.status).toBe(200);
    const { plist } = await readProfileBytes(new Uint8Array(await profile.arrayBuffer()));
    const mdm = (plist as { PayloadContent: Array<Record<string, unknown>> }).PayloadContent.find((p) => p.PayloadType === 'com.apple.mdm');
    expect(mdm).toMatchObject({ Topic: TOPIC, ServerURL: 'https://mdm.example.com/mdm/connect', SignMessage: true });
  });

  it('lists devices, and refuses a wrong token and a missing one', async () => {
    const list = await lockwarden(as('devices', 'list'));
    expect(list.code).toBe(0);
    const wrong = await lockwarden(['devices', 'list', '--server', server.url, '--token', 'nope']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('401');
    const none = await lockwarden(['devices', 'list', '--server', server.url]);
    expect(none.code).toBe(2);
  });
});
