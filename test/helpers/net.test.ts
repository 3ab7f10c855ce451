import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ephemeralLow, freePort, RESERVED_FROM } from './net.js';

const low = ephemeralLow();
/** The reserved range exists on Linux (CI); elsewhere the helper takes the OS's pick, checked below. */
const noRange = low - RESERVED_FROM < 1000 ? 'no ephemeral port range to stay below on this OS' : false;

/** The first port from `from` on that binds on 127.0.0.1 now. */
async function bindablePort(from: number): Promise<number> {
  for (let p = from; ; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

describe('freePort', () => {
  it('hands out a port that binds on 127.0.0.1, on any OS', async () => {
    const p = await freePort();
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(p, '127.0.0.1', resolve));
    await new Promise((r) => srv.close(r));
  });
});

describe('freePort below the ephemeral range', { skip: noRange }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'telehub-port-locks-'));
    process.env.TELEHUB_TEST_PORT_LOCKS = dir;
  });
  after(() => {
    delete process.env.TELEHUB_TEST_PORT_LOCKS;
    rmSync(dir, { recursive: true, force: true });
  });
  const lock = (port: number, pid: number) => writeFileSync(path.join(dir, String(port)), String(pid));
  const lockAllBut = (free: number[], pid: number) => {
    for (let p = RESERVED_FROM; p < low; p++) if (!free.includes(p)) lock(p, pid);
  };

  it('hands out distinct ports below the ephemeral range, each bindable and locked for this process', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    assert.equal(new Set(ports).size, ports.length, 'no port is handed out twice');
    for (const p of ports) {
      assert.ok(p >= RESERVED_FROM && p < low, `${p} lies below the ephemeral range (${low})`);
      assert.equal(readFileSync(path.join(dir, String(p)), 'utf8'), String(process.pid));
    }
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(ports[0], '127.0.0.1', resolve));
    await new Promise((r) => srv.close(r));
  });

  it('skips ports another live process holds, and clears a dead process\'s lock for a later call', async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const free = [await bindablePort(20101), await bindablePort(27003)];
    lockAllBut(free, process.ppid); // a live process that is not this one
    const got = [await freePort(), await freePort()];
    assert.deepEqual(got.sort((a, b) => a - b), free, 'only the two unlocked ports are handed out');

    // A lock left by a process that is gone (killed before it removed it), written a while ago.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = await bindablePort(20555);
    lock(stale, Number(dead));
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, String(stale)), old, old);
    const first = await freePort(); // meets the stale lock and clears it; nothing else is free here
    assert.ok(first >= low, `falls back to the OS's pick when every port below is held (${first})`);
    assert.equal(await freePort(), stale, 'the cleared port is taken at the next call');
  });
});
