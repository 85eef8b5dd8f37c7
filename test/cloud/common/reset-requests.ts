// kafkajs socket factories for fault tests: a request that `reset` picks (by its Kafka API key) is
// not sent; its connection is reset instead, as a broker going away mid-request would do. Or a
// request that `hold` picks is sent only once the promise it returns settles, as a slow broker would
// answer it late.

import net from 'node:net';
import type { ISocketFactory } from 'kafkajs';

export const API_KEY = { findCoordinator: 10, addPartitionsToTxn: 24, endTxn: 26 } as const;

/** A request as written: its API key, and its bytes (size, header, body). */
export interface Request {
  apiKey: number;
  bytes: Buffer;
}

export function resetRequests(reset: (apiKey: number) => boolean): ISocketFactory {
  return interceptRequests((r) => (reset(r.apiKey) ? 'reset' : undefined));
}

/** Each request goes through `fn`: 'reset' resets its connection, a promise holds it until it settles, anything else sends it. */
export function interceptRequests(fn: (r: Request) => 'reset' | Promise<unknown> | undefined): ISocketFactory {
  return ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: Buffer, encoding?: BufferEncoding) => boolean;
    socket.write = ((chunk: Buffer, encoding?: BufferEncoding) => {
      // A request: its size (int32), then its API key (int16).
      const apiKey = Buffer.isBuffer(chunk) && chunk.length >= 6 ? chunk.readInt16BE(4) : -1;
      const what = apiKey >= 0 ? fn({ apiKey, bytes: chunk }) : undefined;
      if (what === 'reset') {
        socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        return false;
      }
      if (what) {
        const send = () => void (socket.destroyed || write(chunk, encoding));
        what.then(send, send);
        return true;
      }
      return write(chunk, encoding);
    }) as typeof socket.write;
    return socket;
  };
}

/** The transactional id an EndTxn request (v0, v1) is for. */
export function endTxnId(bytes: Buffer): string {
  // size (4), API key (2), version (2), correlation id (4), client id (int16 length, bytes), then the body.
  const clientId = bytes.readInt16BE(12);
  const at = 14 + Math.max(0, clientId);
  return bytes.toString('utf8', at + 2, at + 2 + bytes.readInt16BE(at));
}
