import * as os from 'os';
import * as path from 'path';
import { WorkerPool, WorkerThread } from '../../../src/sources/worker/thread';

const ENTRY = path.join(__dirname, 'fixtures/busy-entry');
type Answer = { threadId: number; data: unknown };

describe('worker pool', () => {
  test('a call goes to the least busy worker: a second one while the first is busy goes to another; each worker gets its start data', async () => {
    const pool = new WorkerPool<number, Answer>(ENTRY, 2, { maxHeapMb: 64, data: { hello: 'worker' } });
    try {
      expect(pool.size).toBe(2);
      const [a, b] = await Promise.all([pool.call(300), pool.call(300)]);
      expect(a.threadId).not.toBe(b.threadId);
      expect([a.data, b.data]).toEqual([{ hello: 'worker' }, { hello: 'worker' }]);
      // Idle again: the next call goes to the first worker, already running.
      expect((await pool.call(0)).threadId).toBe(a.threadId);
    } finally {
      await pool.close();
    }
  }, 60_000);

  test('a worker left idle is stopped, giving its memory back; the next call starts a fresh one', async () => {
    const thread = new WorkerThread<number, Answer>(ENTRY, { maxHeapMb: 64, idleMs: 100 });
    try {
      const first = await thread.call(0);
      expect((await thread.call(0)).threadId).toBe(first.threadId);
      await new Promise((r) => setTimeout(r, 400));
      expect((await thread.call(0)).threadId).not.toBe(first.threadId);
    } finally {
      await thread.close();
    }
  }, 60_000);

  test('size 0 means one worker per core, up to 4', async () => {
    const pool = new WorkerPool<number, Answer>(ENTRY, 0, { maxHeapMb: 64 });
    expect(pool.size).toBe(Math.min(os.availableParallelism(), 4));
    await pool.close();
  });
});
