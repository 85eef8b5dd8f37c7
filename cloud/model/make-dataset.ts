// Writes a labelled window set (dataset.ts) to a file the training script reads:
//   "EWDS0001", u32 LE header length, the header (JSON: layout, classes, sequences), zero padding to
//   a multiple of 4, then float32 LE features (windows x width), then uint8 labels.
// Run: npx tsx cloud/model/make-dataset.ts --out FILE --sensors N --seconds S --seed K [--mix '{"fall":2}']

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLASSES, simulateWindows } from './dataset.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, sensors: { type: 'string', default: '100' }, seconds: { type: 'string', default: '600' }, seed: { type: 'string', default: '1' }, mix: { type: 'string' } } });
if (!values.out) throw new Error('--out FILE is required');
const t0 = performance.now();
const set = await simulateWindows({ sensors: Number(values.sensors), seconds: Number(values.seconds), seed: Number(values.seed), ...(values.mix ? { mix: JSON.parse(values.mix) } : {}) });
const header = Buffer.from(JSON.stringify({
  layout: { id: set.layout.id, names: set.layout.features.map((f) => f.name), window: set.layout.config.window, hop: set.layout.config.hop, sampleRate: set.layout.config.sampleRate },
  classes: CLASSES,
  windows: set.labels.length,
  width: set.layout.width,
  sequences: set.sequences,
}));
const pad = (4 - ((12 + header.length) % 4)) % 4;
const prefix = Buffer.alloc(12);
prefix.write('EWDS0001', 0, 'ascii');
prefix.writeUInt32LE(header.length, 8);
writeFileSync(values.out, Buffer.concat([prefix, header, Buffer.alloc(pad), Buffer.from(set.features.buffer, set.features.byteOffset, set.features.byteLength), Buffer.from(set.labels)]));
const hist = CLASSES.map((c, i) => `${c} ${set.labels.filter((l) => l === i).length}`).join(', ');
console.error(`${values.out}: ${set.labels.length} windows of ${set.sequences.length} sensors (${hist}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
