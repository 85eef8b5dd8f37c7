// Replaces a small state file so that a crash leaves either the old or the new content: write a
// temporary file, fsync it, rename it over the old one.

import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';

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
