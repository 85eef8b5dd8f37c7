// Appends batches to an outbox until killed, printing each batch's ids once append() resolved
// (fsync per batch): what the parent test may rely on being on disk after a SIGKILL.

import { Outbox } from '../../edge/outbox/outbox.js';

const [dir, acks] = process.argv.slice(2);
const outbox = Outbox.open(dir!, { maxBytes: 64 * 2 ** 20, segmentBytes: 64 * 1024, stateIntervalMs: 20 });
let n = 0;
for (;;) {
  const ids = await outbox.append(Array.from({ length: 5 }, (_, k) => ({ kind: 'raw' as const, topic: `edgewave/gw/s${k}/raw`, payload: new Uint8Array(300).fill(n % 251) })));
  if (acks === 'ack') for (const r of await outbox.take(3)) outbox.ack(r.id);
  process.stdout.write(`${ids.join(',')}\n`);
  n++;
}
