// `edgewave demo`: runs the demo in the foreground with a live status line; Ctrl-C stops it cleanly.

import { EdgewaveError } from '../protocol/index.js';
import { startDemo, type DemoStats } from './demo.js';

function line(s: DemoStats, elapsedS: number): string {
  const fps = s.framesReceived / Math.max(elapsedS, 1e-9);
  const sps = s.samplesReceived / Math.max(elapsedS, 1e-9);
  const kbps = s.bytesReceived / 1024 / Math.max(elapsedS, 1e-9);
  const a = s.activities;
  return (
    `${elapsedS.toFixed(0).padStart(4)}s  frames ${s.framesReceived} (${fps.toFixed(0)}/s)  samples ${sps.toFixed(0)}/s  ` +
    `${kbps.toFixed(0)} KiB/s  lost ${s.gaps}  dup ${s.duplicates}  ` +
    `latency p50 ${s.latencyMs.p50.toFixed(1)} ms p99 ${s.latencyMs.p99.toFixed(1)} ms  ` +
    `idle ${a.idle} walking ${a.walking} running ${a.running}`
  );
}

export async function runDemoCommand(options: Record<string, unknown>): Promise<number> {
  const started = Date.now();
  const tty = process.stdout.isTTY;
  let demo;
  try {
    demo = await startDemo(options, (s) => {
      const text = line(s, (Date.now() - started) / 1000);
      if (tty) process.stdout.write(`\r\x1b[2K${text}`);
      else console.log(text);
    });
  } catch (err) {
    if (err instanceof EdgewaveError) {
      console.error(`edgewave demo: ${err.message} [${err.code}]`);
      return 2;
    }
    throw err;
  }
  const cfg = demo.config;
  console.log(`edgewave demo: ${cfg.sensors} simulated IMU sensors at ${cfg.rate} Hz on ${cfg.gateways} gateways`);
  console.log(`  embedded MQTT broker (MQTT 3.1.1): ${demo.url}   watch it: mosquitto_sub -h ${new URL(demo.url).hostname} -p ${new URL(demo.url).port} -t 'edgewave/#' -v`);
  console.log('  binary batch frames, QoS 1; every sensor sequence is checked for loss and duplicates. Ctrl-C stops.\n');

  const { durationS } = cfg;
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (durationS > 0) setTimeout(done, durationS * 1000).unref();
  });
  const final = await demo.stop();
  const elapsed = (Date.now() - started) / 1000;
  if (tty) process.stdout.write('\n');
  console.log(`\nstopped after ${elapsed.toFixed(1)} s`);
  console.log(`  frames sent ${final.framesSent}, received ${final.framesReceived}, lost ${final.gaps}, duplicated ${final.duplicates}`);
  console.log(`  samples received ${final.samplesReceived}; binary frames are ${(final.binaryToJson * 100).toFixed(0)}% of the JSON size`);
  const rejected = Object.entries(final.rejected);
  if (rejected.length) console.log(`  messages rejected by the decoder: ${rejected.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  console.log(`  latency p50 ${final.latencyMs.p50.toFixed(1)} ms, p99 ${final.latencyMs.p99.toFixed(1)} ms, max ${final.latencyMs.max.toFixed(1)} ms`);
  return final.gaps === 0 && final.duplicates === 0 ? 0 : 1;
}
