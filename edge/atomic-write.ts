// Replaces a small state file so that a crash leaves either the old or the new content: write a
// temporary file, fsync it, rename it over the old one.
//
// `writeFileAtomic` blocks the thread for the fsync; `writeFileAtomicAsync` does the same steps on
// libuv's thread pool. An fsync waits for the file system's journal, which other processes' writes
// can hold for tens of milliseconds (80-90 ms on this project's test machine while a pipeline and
// its servers wrote beside it): periodic state writes on a thread that also sends data use the
// async one.

import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';

export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** As `writeFileAtomic`, off the calling thread. Two calls for one path must not overlap. */
export async function writeFileAtomicAsync(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
